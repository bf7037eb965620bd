// The site as a reader's browser sees it: the system Chromium, headless,
// driven through puppeteer-core. Run by tests/browser.rs against the real
// binary (BASE, STORY, SECTION, EMPTY_SECTION come from there); prints one
// line per check and exits 1 if any failed. With NEWSDESK_SCREENSHOTS=DIR it
// also writes front, story and Arabic edition screenshots at 1280 and 390 px.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const { BASE, STORY, SECTION, EMPTY_SECTION } = process.env;
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = process.env.NEWSDESK_SCREENSHOTS;
if (!fs.existsSync(chromium)) {
  console.error(`browser: Chromium is not at ${chromium} (Debian: apt-get install chromium)`);
  process.exit(2);
}
const origin = new URL(BASE).origin;
const failures = [];
const check = (ok, what, detail = "") => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${ok || !detail ? "" : ": " + detail}`);
  if (!ok) failures.push(what);
};

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "newsdesk-chromium-"));
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  userDataDir: profile,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
  ],
});

// Load a page at a width; every request it makes is recorded.
async function open(url, width) {
  const page = await browser.newPage();
  await page.setViewport({ width, height: 900 });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const resp = await page.goto(url, { waitUntil: "networkidle0" });
  return { page, resp, requests };
}

async function common(name, url, { lang = "en", dir = "ltr" } = {}) {
  const { page, resp, requests } = await open(url, 1280);
  check(resp.status() === 200, `${name}: loads (${resp.status()})`);
  const h = resp.headers();
  check(/default-src 'none'/.test(h["content-security-policy"] || "") && !/script-src/.test(h["content-security-policy"]),
    `${name}: its Content-Security-Policy forbids scripts`);
  check(!!h.etag, `${name}: has an ETag`);
  const away = requests.filter((u) => !u.startsWith(origin + "/") && !u.startsWith("data:"));
  check(away.length === 0, `${name}: no request leaves ${origin} (${requests.length} made)`, away.join(", "));
  const root = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    dir: document.documentElement.dir,
    h1: document.querySelectorAll("h1").length,
    scripts: document.querySelectorAll("script").length,
    switch: [...document.querySelectorAll("nav.langs a")].map((a) => a.getAttribute("href")),
    headings: [...document.querySelectorAll("h1,h2,h3,h4,h5,h6")].map((h) => +h.tagName[1]),
    landmarks: ["header", "nav", "main", "footer"].filter((t) => document.querySelector(t)),
  }));
  check(root.lang === lang && root.dir === dir, `${name}: <html lang="${lang}" dir="${dir}">`, JSON.stringify(root));
  check(root.h1 === 1 && root.scripts === 0, `${name}: one h1, no script`, JSON.stringify(root));
  const jumps = root.headings.filter((l, i) => i > 0 && l > root.headings[i - 1] + 1);
  check(root.headings[0] === 1 && jumps.length === 0, `${name}: headings in order`, root.headings.join(" "));
  check(root.landmarks.length === 4, `${name}: header, nav, main and footer landmarks`, root.landmarks.join(" "));
  const editions = ["/", "/ar/", "/es/"].every((e) => root.switch.some((s) => s === e || s.startsWith(e.slice(0, -1) + "/")));
  check(root.switch.length === 3 && editions, `${name}: a language switch to the three editions`, root.switch.join(" "));
  // axe-core, inside this Chromium: the page's CSP forbids scripts, so the
  // checker runs in a page that bypasses it (the page under test is the same).
  // Both colour schemes: contrast is checked in each.
  for (const scheme of ["light", "dark"]) {
    const a = await browser.newPage();
    await a.setBypassCSP(true);
    await a.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
    await a.setViewport({ width: 1280, height: 900 });
    await a.goto(url, { waitUntil: "networkidle0" });
    await a.evaluate(axeSource);
    const result = await a.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    check(bad.length === 0,
      `${name}: axe-core finds no serious or critical violation, ${scheme} scheme (${result.violations.length} minor)`,
      bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`).join(" | "));
    console.log(`axe ${name} (${scheme}): ${bad.length} serious/critical, ${result.violations.length} in all` +
      (result.violations.length ? ` (${result.violations.map((v) => `${v.id}:${v.impact}`).join(", ")})` : ""));
    if (shots && scheme === "dark" && name === "front") {
      fs.mkdirSync(shots, { recursive: true });
      await a.screenshot({ path: path.join(shots, "front-dark-1280.png") });
    }
    await a.close();
  }
  // 390 pixels wide (and the issue's narrowest, 360): nothing scrolls sideways.
  for (const w of [390, 360]) {
    await page.setViewport({ width: w, height: 844 });
    const wide = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    check(wide[0] <= wide[1], `${name}: no horizontal scroll at ${w} px (content ${wide[0]} px)`);
  }
  if (shots) {
    fs.mkdirSync(shots, { recursive: true });
    for (const w of [1280, 390]) {
      await page.setViewport({ width: w, height: w === 390 ? 844 : 900 });
      await page.screenshot({ path: path.join(shots, `${name}-${w}.png`), fullPage: true });
    }
  }
  return page;
}

try {
  // The front page.
  const front = await common("front", BASE + "/");
  const f = await front.evaluate((empty) => {
    const main = document.querySelector("main");
    const first = main.firstElementChild;
    const cards = [...document.querySelectorAll(".card")];
    const times = [...document.querySelectorAll("time[datetime]")];
    const shelf = [...document.querySelectorAll(".shelf")].find((s) => s.querySelector("h3").textContent.trim() === empty);
    return {
      tickerFirst: first && first.classList.contains("ticker") && /breaking/i.test(first.querySelector("h2").textContent),
      ticker: first ? first.querySelectorAll("li a").length : 0,
      mostCovered: [...document.querySelectorAll("h2")].some((h) => h.textContent.trim() === "Most covered"),
      topCards: document.querySelectorAll(".top .card").length,
      groups: [...document.querySelectorAll("main > section > h2")].map((h) => h.textContent.trim()),
      more: cards.some((c) => /^.+, .+ and 3 more · /.test(c.querySelector(".meta").textContent)),
      outletsIsolated: cards.every((c) => c.querySelectorAll(".meta bdi").length >= 2),
      leads: cards.filter((c) => c.querySelector(".lead")).length,
      cards: cards.length,
      timesInWords: times.length > 0 && times.every((t) => /ago|just now/.test(t.textContent) && !isNaN(Date.parse(t.dateTime))),
      storyLinks: cards.every((c) => /\/stories\/[0-9a-z]+$/.test(c.querySelector("a.t").getAttribute("href"))),
      titlesIsolated: cards.every((c) => c.querySelector("a.t").getAttribute("dir") === "auto"),
      empty: shelf ? { text: shelf.textContent, link: !!shelf.querySelector(`a[href="/sections/sports"]`) } : null,
    };
  }, EMPTY_SECTION);
  check(f.tickerFirst && f.ticker > 0, `front: the BREAKING ticker comes first (${f.ticker} stories)`);
  check(f.mostCovered && f.topCards > 0, `front: "Most covered" lists ${f.topCards} stories`);
  check(f.groups.includes("News") && f.groups.includes("More") && f.groups.includes("Regions"),
    `front: sections by group (${f.groups.join(", ")})`);
  check(f.more, 'front: a story names its outlets as "A, B and 3 more"');
  check(f.outletsIsolated && f.titlesIsolated, "front: titles, outlets and times are bidi-isolated");
  check(f.leads > 0 && f.leads === f.cards, `front: every story has its lead's first sentence (${f.leads})`);
  check(f.timesInWords, "front: times in words, with <time datetime>");
  check(f.storyLinks, "front: every story links to its page");
  check(f.empty && /Nothing new in/.test(f.empty.text) && f.empty.link,
    `front: an empty section (${EMPTY_SECTION}) says so and links to its page`, JSON.stringify(f.empty));

  // A story with three outlets.
  const story = await common("story", BASE + STORY);
  const s = await story.evaluate(() => ({
    h1: document.querySelector("h1").textContent.trim(),
    reports: [...document.querySelectorAll(".reports li")].map((li) => ({
      outlet: li.querySelector(".outlet")?.textContent,
      link: li.querySelector("a")?.href,
      headline: li.querySelector("a")?.textContent,
      time: li.querySelector("time")?.dateTime,
    })),
    lead: document.querySelector(".lead")?.textContent || "",
    time: document.querySelector("h1 + .meta time")?.dateTime,
    labels: [...document.querySelectorAll(".labels a")].map((a) => a.getAttribute("href")),
    related: [...document.querySelectorAll("h2")].some((h) => h.textContent === "Related") &&
      [...document.querySelectorAll(".story .card a.t")].some((a) => /dock workers/.test(a.textContent)),
    subscribe: document.querySelector(".subscribe a")?.getAttribute("href"),
  }));
  check(/Harbour bridge/i.test(s.h1) && s.lead.length > 20 && !!s.time, `story: headline, lead and time ("${s.h1}")`);
  const times = s.reports.map((r) => Date.parse(r.time));
  check(s.reports.length === 3 && s.reports.every((r) => r.outlet && r.link && r.headline && r.time) &&
    times.every((t, i) => i === 0 || t >= times[i - 1]),
    "story: three outlets, each with its headline, link and time, first report first", JSON.stringify(s.reports));
  check(s.labels.some((l) => l.startsWith("/sections/")) && s.labels.some((l) => l.startsWith("/regions/")) &&
    s.labels.some((l) => l.startsWith("/tags/")), `story: sections, regions and tags as links (${s.labels.join(" ")})`);
  check(s.related, "story: a Related list, with another story from the same place");
  check(/\/feeds\/.+\.atom$/.test(s.subscribe || ""), `story: a link to subscribe to its section's feed (${s.subscribe})`);

  // A section's second page, reached by its own "Older stories" link.
  const { page: sec } = await open(BASE + SECTION, 1280);
  const first = await sec.evaluate(() => ({
    titles: [...document.querySelectorAll(".card a.t")].map((a) => a.textContent),
    next: document.querySelector('a[rel="next"]')?.getAttribute("href"),
    feeds: [...document.querySelectorAll('link[rel="alternate"]')].map((l) => l.type),
  }));
  check(first.titles.length === 20 && !!first.next, `section: a first page of 20 stories links to the next (${first.next})`);
  check(["application/rss+xml", "application/atom+xml", "application/feed+json"].every((t) => first.feeds.includes(t)),
    "section: feed autodiscovery links");
  const second = await common("section-page-2", BASE + first.next);
  const p2 = await second.evaluate(() => ({
    titles: [...document.querySelectorAll(".card a.t")].map((a) => a.textContent),
    newest: document.querySelector('a[rel="first"]')?.getAttribute("href"),
    h1: document.querySelector("h1").textContent,
  }));
  check(p2.titles.length > 0 && p2.titles.every((t) => !first.titles.includes(t)) && !!p2.newest,
    `section: its second page has the next ${p2.titles.length} stories and a link back (${p2.h1})`);

  // The Arabic edition.
  const ar = await common("arabic", BASE + "/ar/", { lang: "ar", dir: "rtl" });
  const a = await ar.evaluate(() => ({
    h2: [...document.querySelectorAll("h2")].map((h) => h.textContent.trim()),
    langs: [...document.querySelectorAll(".card a.t, .ticker a")].map((x) => x.lang),
    nav: [...document.querySelectorAll("nav.sections a")].map((x) => x.textContent),
    storyLinks: [...document.querySelectorAll(".card a.t")].every((x) => x.getAttribute("href").startsWith("/ar/stories/")),
  }));
  check(a.h2.includes("عاجل") && a.h2.includes("الأكثر تغطية"), `arabic: the page's words are Arabic (${a.h2.join("، ")})`);
  check(a.langs.length > 0 && a.langs.every((l) => l === "ar"), `arabic: only stories first told in Arabic (${a.langs.length})`);
  check(a.nav.includes("العالم") && a.nav.includes("اقتصاد"), "arabic: section names from title_ar");
  check(a.storyLinks, "arabic: stories link to the edition's story pages");
} catch (e) {
  check(false, "the browser run", e.stack || String(e));
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(failures.length ? `browser: ${failures.length} checks failed: ${failures.join("; ")}` : "browser: all checks passed");
process.exit(failures.length ? 1 : 0);
