#!/usr/bin/env python3
"""Writes the demo feeds under config/demo/feeds/ from the stories below.

The outlets and the news are invented by the newsdesk team (fictional outlets
on .example domains); several events are carried by several outlets, rewritten
and translated, and a few look alike without being the same event, so the demo
shows clustering, sections, regions and breaking news. Run it again after
editing the table: `python3 scripts/make-demo-feeds.py`.
"""
import json, os
from xml.sax.saxutils import escape as x

OUT = os.path.join(os.path.dirname(__file__), "..", "config", "demo", "feeds")

OUTLETS = {
    "meridian": ("rss2", "Meridian World", "https://meridian.example", "en"),
    "harbor": ("atom", "The Harbor Daily", "https://harbor.example", "en"),
    "capital": ("rss2", "Capital Wire", "https://capitalwire.example", "en"),
    "northstar": ("rss1", "North Star Review", "https://northstar.example", "en"),
    "almarsad": ("rss2", "المرصد", "https://almarsad.example", "ar"),
    "alyawm": ("atom", "اليوم الإخباري", "https://alyawm.example", "ar"),
    "brujula": ("json", "La Brújula", "https://labrujula.example", "es"),
    "faro": ("rss2", "El Faro Digital", "https://elfaro.example", "es"),
}

# (outlet, guid or None, time, title, summary html, link or None, categories, author)
ITEMS = [
    # Chile earthquake: wire first, then rewrites and translations.
    ("capital", "cw-1001", "2026-11-27T08:02:00Z", "BREAKING: Magnitude 6.1 earthquake kills 12 in southern Chile",
     "<p>A magnitude 6.1 earthquake struck southern Chile near Temuco, killing at least 12 people, officials said.</p>",
     "https://capitalwire.example/2026/11/27/chile-quake", ["World", "Americas"], "Capital Wire staff"),
    ("meridian", "mw-5501", "2026-11-27T08:15:00Z", "Earthquake of magnitude 6.1 kills 12 in southern Chile",
     "<p>At least 12 people died when a magnitude 6.1 earthquake hit southern <em>Chile</em> on Friday morning.</p>",
     "https://meridian.example/world/chile-earthquake-12-dead", ["World"], "Ana Torres"),
    ("harbor", "tag:harbor.example,2026:chile-quake", "2026-11-27T08:24:00Z", "Southern Chile quake leaves at least 12 dead",
     "<p>Rescue teams search collapsed homes after the 6.1 quake near Temuco, Chile.</p>",
     "https://harbor.example/news/2026/chile-quake-dead", ["World", "Disasters"], None),
    ("faro", "ef-301", "2026-11-27T09:05:00Z", "Terremoto de magnitud 6,1 deja 12 muertos en el sur de Chile",
     "<p>Un sismo de magnitud 6,1 sacudió el sur de Chile cerca de Temuco.</p>",
     "https://meridian.example/world/chile-earthquake-12-dead?utm_source=elfaro&utm_medium=rss", ["Internacional"], None),
    ("almarsad", "am-9001", "2026-11-27T09:30:00Z", "زلزال بقوة 6.1 درجة يقتل 12 شخصاً في جنوب تشيلي",
     "<p>لقي 12 شخصاً على الأقل حتفهم في زلزال ضرب جنوب تشيلي.</p>",
     "https://almarsad.example/world/chile-quake", ["دولي"], None),
    # A look-alike: another earthquake the same day, elsewhere, other figures.
    ("northstar", "ns-77", "2026-11-27T11:40:00Z", "Magnitude 5.9 earthquake kills 3 in central Peru",
     "<p>A magnitude 5.9 earthquake killed three people in central Peru, near Huancayo.</p>",
     "https://northstar.example/2026/peru-earthquake", ["World"], "North Star desk"),
    # Central banks on one day: the ECB holds, the Bank of England cuts.
    ("meridian", "mw-5510", "2026-11-26T13:15:00Z", "European Central Bank holds interest rates at 3.25%",
     "<p>The ECB kept its deposit rate at 3.25% and said inflation in Europe is easing.</p>",
     "https://meridian.example/economy/ecb-holds-rates", ["Business", "Economy"], "Lukas Brandt"),
    ("harbor", "tag:harbor.example,2026:ecb", "2026-11-26T13:40:00Z", "ECB keeps rates on hold at 3.25 per cent as inflation eases",
     "<p>Frankfurt: the European Central Bank left borrowing costs unchanged at 3.25%.</p>",
     "https://harbor.example/business/2026/ecb-hold", ["Economy"], None),
    ("brujula", "lb-2001", "2026-11-26T14:10:00Z", "El Banco Central Europeo mantiene los tipos de interés en el 3,25%",
     "<p>El BCE dejó sin cambios su tasa de depósito en el 3,25 %.</p>",
     "https://harbor.example/business/2026/ecb-hold#comentarios", ["Economía"], None),
    ("capital", "cw-1002", "2026-11-26T12:00:00Z", "Bank of England cuts interest rates to 4.5%",
     "<p>The Bank of England lowered its main rate by a quarter point to 4.5% in London.</p>",
     "https://capitalwire.example/2026/11/26/boe-cut", ["Business", "Economy"], None),
    # Lebanon: parliament vote, in Arabic and English.
    ("almarsad", "am-9002", "2026-11-25T10:00:00Z", "البرلمان اللبناني يصوّت على قانون الانتخابات الجديد في بيروت",
     "<p>صوّت مجلس النواب في بيروت على قانون جديد للانتخابات.</p>",
     "https://almarsad.example/lebanon/elections-law", ["لبنان", "سياسة"], None),
    ("alyawm", "ay-401", "2026-11-25T10:45:00Z", "بيروت: البرلمان اللبنانى يصوت على قانون الانتخابات الجديد",
     "<p>أقر البرلمان في لبنان قانون الانتخابات بعد جلسة طويلة.</p>",
     "https://alyawm.example/news/lebanon-parliament-vote", ["سياسة"], None),
    ("meridian", "mw-5520", "2026-11-25T11:30:00Z", "Lebanon's parliament passes new election law",
     "<p>Lawmakers in Beirut approved a new election law after a long session.</p>",
     "https://meridian.example/middle-east/lebanon-election-law", ["Middle East", "Politics"], None),
    # Football: two 2-1 results between different clubs.
    ("faro", "ef-302", "2026-11-27T22:10:00Z", "Boca Juniors vence 2-1 a River Plate en el superclásico",
     "<p>Boca Juniors ganó 2-1 a River Plate en La Bombonera, Buenos Aires.</p>",
     "https://elfaro.example/deportes/superclasico", ["Deportes"], None),
    ("brujula", "lb-2002", "2026-11-27T22:30:00Z", "Superclásico: Boca Juniors derrota 2-1 a River Plate",
     "<p>Con un gol en el minuto 88, Boca Juniors derrotó 2-1 a River Plate.</p>",
     "https://labrujula.example/deportes/boca-river", ["Deportes", "Fútbol"], None),
    ("harbor", "tag:harbor.example,2026:madrid", "2026-11-27T21:50:00Z", "Real Madrid beat Sevilla 2-1 in La Liga",
     "<p>Real Madrid came from behind to beat Sevilla 2-1 at the Bernabéu in Madrid.</p>",
     "https://harbor.example/sport/2026/madrid-sevilla", ["Sport", "Football"], None),
    # Greek wildfire: three outlets within half an hour (breaking by coverage).
    ("northstar", "ns-78", "2026-11-28T03:00:00Z", "Wildfire near Athens forces thousands to evacuate",
     "<p>A fast-moving wildfire north of Athens, Greece, forced thousands from their homes.</p>",
     "https://northstar.example/2026/athens-wildfire", ["Environment"], None),
    ("meridian", "mw-5530", "2026-11-28T03:12:00Z", "Thousands evacuate as wildfire spreads near Athens",
     "<p>Firefighters in Greece battle a wildfire spreading near Athens.</p>",
     "https://meridian.example/europe/greece-wildfire", ["Europe", "Environment"], None),
    ("capital", "cw-1003", "2026-11-28T03:20:00Z", "Greece wildfire near Athens forces thousands to flee",
     "<p>Greek authorities ordered evacuations as a wildfire spread north of Athens.</p>",
     "https://capitalwire.example/2026/11/28/greece-fire", ["World"], None),
    # Climate talks in Nairobi: English original, translations linking to it.
    ("harbor", "tag:harbor.example,2026:nairobi", "2026-11-26T18:00:00Z", "Nairobi climate summit agrees on adaptation fund",
     "<p>Delegates in Nairobi, Kenya, agreed on a fund to help countries adapt to climate change.</p>",
     "https://harbor.example/environment/2026/nairobi-summit", ["Environment", "Climate"], None),
    ("alyawm", "ay-402", "2026-11-26T19:00:00Z", "قمة نيروبي للمناخ تتفق على صندوق للتكيف",
     "<p>اتفق المندوبون في نيروبي على صندوق لمساعدة الدول على التكيف مع تغير المناخ.</p>",
     "https://HARBOR.example/environment/2026/nairobi-summit?utm_campaign=ar", ["بيئة"], None),
    ("brujula", "lb-2003", "2026-11-26T19:20:00Z", "La cumbre del clima de Nairobi acuerda un fondo de adaptación",
     "<p>Los delegados acordaron en Nairobi un fondo para la adaptación climática.</p>",
     "https://harbor.example/environment/2026/nairobi-summit", ["Medio ambiente"], None),
    # Health: two outlets.
    ("meridian", "mw-5540", "2026-11-25T15:00:00Z", "WHO approves new malaria vaccine for children",
     "<p>The World Health Organization approved a second malaria vaccine for children in Africa.</p>",
     "https://meridian.example/health/malaria-vaccine", ["Health"], "Grace Mwangi"),
    ("northstar", "ns-79", "2026-11-25T17:30:00Z", "New malaria vaccine for children approved by WHO",
     "<p>Health experts welcome the approval, which could save thousands of lives in Nigeria and Kenya.</p>",
     "https://northstar.example/2026/malaria-vaccine", ["Health"], None),
    # Single-source stories across sections and regions.
    ("meridian", None, "2026-11-27T16:00:00Z", "Chipmaker unveils faster processor for laptops",
     "<p>The new processor promises longer battery life. <script>alert('demo')</script><a href=\"#\" onclick=\"steal()\">Read more</a></p>",
     "https://meridian.example/tech/new-processor", ["Technology"], None),
    ("meridian", "mw-5550", "2026-11-26T06:00:00Z", "Typhoon brings heavy rain to southern Japan",
     "<p>Typhoon Haruka brought heavy rain and strong winds to Kyushu, Japan.</p>",
     "https://meridian.example/asia/japan-typhoon", ["Asia"], None),
    ("harbor", "tag:harbor.example,2026:opinion-transit", "2026-11-27T07:00:00Z", "Opinion: Our cities need buses, not more highways",
     "<p>Why investing in public transit pays back faster than building new roads.</p>",
     "https://harbor.example/opinion/2026/buses", ["Opinion"], "Maya Collins"),
    ("northstar", "ns-80", "2026-11-26T09:00:00Z", "Analysis: What the central bank decisions mean for borrowers",
     "<p>Three decisions, three directions: an analysis of this week's moves on interest rates.</p>",
     "https://northstar.example/2026/analysis-rates", ["Analysis", "Economy"], None),
    ("capital", "cw-1004", "2026-11-27T19:00:00Z", "Canada's opposition leader calls for early election",
     "<p>In Ottawa, the opposition leader demanded an early federal election in Canada.</p>",
     "https://capitalwire.example/2026/11/27/canada-election", ["Politics"], None),
    ("almarsad", "am-9003", "2026-11-27T12:00:00Z", "وصول قوافل مساعدات إنسانية إلى غزة",
     "<p>وصلت قوافل مساعدات إنسانية إلى قطاع غزة عبر معبر رفح.</p>",
     "https://almarsad.example/palestine/gaza-aid", ["فلسطين"], None),
    ("almarsad", "am-9004", "2026-11-26T20:00:00Z", "منتخب مصر يفوز على المغرب في مباراة ودية",
     "<p>فاز منتخب مصر لكرة القدم على المغرب بهدفين في القاهرة.</p>",
     "https://almarsad.example/sports/egypt-morocco", ["رياضة"], None),
    ("alyawm", "ay-403", "2026-11-27T18:00:00Z", "افتتاح مهرجان القاهرة السينمائي بمشاركة أفلام عربية",
     "<p>انطلق مهرجان القاهرة السينمائي بمشاركة واسعة من السينما العربية.</p>",
     "https://alyawm.example/culture/cairo-film-festival", ["ثقافة"], None),
    ("faro", "ef-303", "2026-11-26T16:00:00Z", "La inflación en México baja al 3,8% en noviembre",
     "<p>El instituto de estadística informó que la inflación en México bajó al 3,8 %.</p>",
     "https://elfaro.example/economia/inflacion-mexico", ["Economía"], None),
    ("brujula", "lb-2004", "2026-11-25T20:00:00Z", "¿Puede Bogotá reducir el tráfico con más ciclovías?",
     "<p>Un análisis de los nuevos carriles para bicicletas en Bogotá, Colombia.</p>",
     "https://labrujula.example/analisis/bogota-ciclovias", ["Análisis"], "Camila Ríos"),
    ("capital", "cw-1005", "2026-11-28T04:30:00Z", "Record heat recorded across Australia",
     "<p>Temperatures above 45C were recorded in Sydney and across New South Wales, Australia.</p>",
     "https://capitalwire.example/2026/11/28/australia-heat", ["Weather"], None),
    # RSS allows an item with neither guid, link nor date.
    ("faro", None, None, "Carta de los lectores: gracias por seguirnos",
     "<p>Un mensaje de la redacción a nuestros lectores.</p>", None, [], None),
]

def rfc822(t):
    from datetime import datetime
    d = datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")
    return d.strftime("%a, %d %b %Y %H:%M:%S +0000")

def items_of(outlet):
    return [i for i in ITEMS if i[0] == outlet]

def rss2(outlet, title, site, lang):
    out = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
           f'<title>{x(title)}</title>\n<link>{site}/</link>\n<description>{x(title)}</description>\n<language>{lang}</language>\n']
    for (_, guid, t, head, summ, link, cats, author) in items_of(outlet):
        out.append("<item>\n")
        if guid: out.append(f'  <guid isPermaLink="false">{x(guid)}</guid>\n')
        out.append(f"  <title>{x(head)}</title>\n")
        if link: out.append(f"  <link>{x(link)}</link>\n")
        if t: out.append(f"  <pubDate>{rfc822(t)}</pubDate>\n")
        out.append(f"  <description>{x(summ)}</description>\n")
        for c in cats: out.append(f"  <category>{x(c)}</category>\n")
        if author: out.append(f"  <dc:creator>{x(author)}</dc:creator>\n")
        out.append("</item>\n")
    out.append("</channel>\n</rss>\n")
    return "".join(out)

def rss1(outlet, title, site, lang):
    its = items_of(outlet)
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
           f'<channel rdf:about="{site}/rss">\n<title>{x(title)}</title>\n<link>{site}/</link>\n<description>{x(title)}</description>\n'
           f'<dc:language>{lang}</dc:language>\n<items><rdf:Seq>\n']
    for i in its: out.append(f'  <rdf:li rdf:resource="{x(i[5])}"/>\n')
    out.append("</rdf:Seq></items>\n</channel>\n")
    for (_, guid, t, head, summ, link, cats, author) in its:
        out.append(f'<item rdf:about="{x(link)}">\n  <title>{x(head)}</title>\n  <link>{x(link)}</link>\n'
                   f"  <description>{x(summ)}</description>\n  <dc:date>{t}</dc:date>\n")
        for c in cats: out.append(f"  <dc:subject>{x(c)}</dc:subject>\n")
        if author: out.append(f"  <dc:creator>{x(author)}</dc:creator>\n")
        out.append("</item>\n")
    out.append("</rdf:RDF>\n")
    return "".join(out)

def atom(outlet, title, site, lang):
    its = items_of(outlet)
    newest = max(i[2] for i in its)
    out = [f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">\n'
           f'<title>{x(title)}</title>\n<id>{site}/</id>\n<link href="{site}/"/>\n<link rel="self" href="{site}/atom.xml"/>\n'
           f"<updated>{newest}</updated>\n<author><name>{x(title)}</name></author>\n"]
    for (_, guid, t, head, summ, link, cats, author) in its:
        out.append(f"<entry>\n  <id>{x(guid)}</id>\n  <title>{x(head)}</title>\n  <link href=\"{x(link)}\"/>\n"
                   f"  <published>{t}</published>\n  <updated>{t}</updated>\n  <summary type=\"html\">{x(summ)}</summary>\n")
        for c in cats: out.append(f'  <category term="{x(c)}"/>\n')
        if author: out.append(f"  <author><name>{x(author)}</name></author>\n")
        out.append("</entry>\n")
    out.append("</feed>\n")
    return "".join(out)

def jsonfeed(outlet, title, site, lang):
    items = []
    for (_, guid, t, head, summ, link, cats, author) in items_of(outlet):
        it = {"id": guid, "url": link, "title": head, "content_html": summ, "date_published": t, "tags": cats}
        if author: it["authors"] = [{"name": author}]
        items.append(it)
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": title, "home_page_url": site + "/",
                       "feed_url": site + "/feed.json", "language": lang, "items": items}, ensure_ascii=False, indent=2) + "\n"

WRITERS = {"rss2": (rss2, "xml"), "rss1": (rss1, "rdf"), "atom": (atom, "atom"), "json": (jsonfeed, "json")}

os.makedirs(OUT, exist_ok=True)
for outlet, (kind, title, site, lang) in OUTLETS.items():
    fn, ext = WRITERS[kind]
    with open(os.path.join(OUT, f"{outlet}.{ext}"), "w", encoding="utf-8") as f:
        f.write(fn(outlet, title, site, lang))
print("wrote", len(OUTLETS), "feeds,", len(ITEMS), "items")
