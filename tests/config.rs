//! Configuration: the shipped files load; broken ones are refused by `check`
//! (exit 2) and by `run` (no panic) with every error, each naming file, line
//! and key.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_configs_load() {
    for name in ["newsdesk.toml", "demo.toml"] {
        let path = root().join("config").join(name);
        let config = newsdesk::config::load(&path).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert!(!config.sources.is_empty(), "{name} has no sources");
        assert!(config.fallback_section().is_some(), "{name} has no fallback section");
    }
    // The demo's sources are files shipped in the repository.
    let demo = newsdesk::config::load(&root().join("config/demo.toml")).unwrap();
    for s in &demo.sources {
        let path = s.url.to_file_path().unwrap_or_else(|_| panic!("demo source {} is not a local file", s.id));
        assert!(path.exists(), "demo source {} missing: {}", s.id, path.display());
    }
    assert!(demo.sources.len() >= 6);
}

/// The shipped configuration and the labelled evaluation's (tests/data/eval)
/// list the same keywords for every section they share, so the section
/// accuracy measured on the evaluation is the shipped filing's.
#[test]
fn shipped_and_evaluation_sections_share_their_vocabulary() {
    let shipped = newsdesk::config::load(&root().join("config/newsdesk.toml")).unwrap();
    let eval = newsdesk::config::load(&root().join("tests/data/eval/config.toml")).unwrap();
    let mut shared = 0;
    for s in &shipped.sections {
        if let Some(e) = eval.sections.iter().find(|e| e.id == s.id) {
            assert_eq!(s.keywords, e.keywords, "section {}: keywords differ between the two configs", s.id);
            shared += 1;
        }
    }
    assert!(shared >= 9, "only {shared} sections shared");
    // A keyword filing a story about its desk, in each language, in the shipped config.
    let categorizer = newsdesk::categorize::Categorizer::new(&shipped);
    let sections_of = |title: &str| {
        categorizer
            .file(&newsdesk::categorize::ItemText { source: "nobody", title, summary: "", categories: &[] })
            .sections
    };
    for (title, want) in [
        ("Heatwave grips the south as drought deepens", "environment"),
        ("Sequía récord obliga a racionar el agua", "environment"),
        ("موجة حر وجفاف في جنوب البلاد", "environment"),
        ("City council votes to ban cars downtown", "politics"),
        ("El concejo municipal aprueba la reforma", "politics"),
        ("المجلس البلدي يقر الموازنة", "politics"),
        ("Pensions to rise 8% in January", "economy"),
        ("Las jubilaciones suben un 8%", "economy"),
        ("United top the league after 3-0 win", "sports"),
        ("Dos goles dan el campeonato al Sierra", "sports"),
        ("المنتخب يفوز بالبطولة", "sports"),
    ] {
        let sections = sections_of(title);
        assert!(sections.iter().any(|s| s == want), "{title:?} filed under {sections:?}, not {want}");
    }
    // Words the lists leave out because another desk or language reads them
    // otherwise (the comments in the config say why): none of these files.
    for (title, not) in [
        ("Police storm the building after the standoff", "environment"),
        ("Scientists hail the trial's results", "environment"),
        ("Marathon talks end without a deal", "sports"),
        ("Strikers picket the plant gates", "sports"),
        ("El fiscal pide diez años de prisión", "economy"),
        ("El ministro se lava las manos", "environment"),
        ("انقلاب حافلة على الطريق الصحراوي", "politics"),
        ("نادى المتظاهرون بالإصلاح", "sports"),
        ("Coach derails outside the station", "sports"),
    ] {
        let sections = sections_of(title);
        assert!(!sections.iter().any(|s| s == not), "{title:?} filed under {not}: {sections:?}");
    }
}

/// The broken configurations under tests/data/bad-configs: each file's first
/// line is `# expect: <text>` naming what the error must say; `line:N` checks
/// the reported line.
#[test]
fn broken_configs_are_refused_with_file_line_and_key() {
    let dir = root().join("tests/data/bad-configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 15, "only {} broken configs", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let out = Command::new(common::bin()).args(["check", "--config"]).arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
        for expect in text.lines().take_while(|l| l.starts_with("# expect: ")) {
            let want = expect.trim_start_matches("# expect: ").replace("FILE", &file.display().to_string());
            assert!(stderr.contains(&want), "{}: wanted {want:?} in:\n{stderr}", file.display());
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        // `run` refuses the same file the same way, without starting.
        let out = Command::new(common::bin()).args(["run", "--config"]).arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "run {}", file.display());
        assert_eq!(String::from_utf8_lossy(&out.stderr), stderr, "run and check disagree on {}", file.display());
    }
}

#[test]
fn every_error_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.toml");
    std::fs::write(
        &path,
        r#"[poll]
interval = "soon"
concurrency = "lots"
colour = "blue"

[[sources]]
id = "Bad Id"
url = "ftp://example.org/feed"
sections = ["nowhere"]
"#,
    )
    .unwrap();
    let errors = newsdesk::config::load(&path).unwrap_err().0;
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let p = path.display();
    for want in [
        format!("{p}:2: poll.interval:"),
        format!("{p}:3: poll.concurrency: expected an integer"),
        format!("{p}:4: poll.colour: unknown key"),
        format!("{p}:7: sources.id: \"Bad Id\" must use only"),
        format!("{p}:8: sources \"Bad Id\".url: scheme \"ftp\""),
        format!("{p}:9: sources \"Bad Id\".sections: section \"nowhere\" is not defined"),
    ] {
        assert!(shown.iter().any(|s| s.starts_with(&want)), "wanted {want:?} in {shown:#?}");
    }
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("etc");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("n.toml");
    std::fs::write(&path, "[storage]\npath = \"../state\"\n[[sources]]\nid = \"a\"\nurl = \"feeds/a.xml\"\n").unwrap();
    let c = newsdesk::config::load(&path).unwrap();
    assert_eq!(c.storage.path, sub.join("../state"));
    assert_eq!(c.sources[0].url.to_file_path().unwrap(), sub.join("feeds/a.xml"));
    assert!(Path::new(&c.sources[0].url.to_file_path().unwrap()).is_absolute());
}

#[test]
fn config_path_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.toml");
    std::fs::write(&path, "[[sources]]\nid = \"a\"\nurl = \"https://example.org/rss\"\n").unwrap();
    let out = Command::new(common::bin()).arg("check").env("NEWSDESK_CONFIG", &path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(common::bin())
        .arg("check")
        .env("NEWSDESK_CONFIG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml: cannot read"));
}

/// The demo works offline: every sample feed parses and stories overlap.
#[test]
fn demo_sources_all_poll_and_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let demo = std::fs::read_to_string(root().join("config/demo.toml")).unwrap();
    let text = demo
        .replace("path = \"../data/demo\"", &format!("path = \"{}\"", dir.path().join("data").display()))
        .replace("url = \"demo/", &format!("url = \"{}/config/demo/", root().display()));
    let config = dir.path().join("demo.toml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(common::bin()).args(["once", "--config"]).arg(&config).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.split_whitespace().nth(1) == Some("ok")).count(), 8, "{stdout}");
    let store = newsdesk::store::Store::open(&dir.path().join("data")).unwrap();
    let (items, stories) = (store.item_count().unwrap(), store.story_count().unwrap());
    assert!(items >= 30 && stories < items, "{items} items in {stories} stories");
    // The demo's multi-outlet events are one entry each, with every outlet,
    // whatever today's date (its items have fixed dates); look-alikes stay apart.
    let entries: Vec<Vec<String>> = store
        .page("all", None, 1000)
        .unwrap()
        .iter()
        .map(|s| store.story_members(s).unwrap().iter().map(|m| store.item(&m.key).unwrap().unwrap().title).collect())
        .collect();
    let entry_of = |title: &str| -> &Vec<String> {
        entries.iter().find(|e| e.iter().any(|t| t == title)).unwrap_or_else(|| panic!("{title} not stored"))
    };
    for (title, outlets) in [
        ("Wildfire near Athens forces thousands to evacuate", 3),
        ("WHO approves new malaria vaccine for children", 2),
        ("Boca Juniors vence 2-1 a River Plate en el superclásico", 2),
    ] {
        assert!(entry_of(title).len() >= outlets, "{title}: {:?}", entry_of(title));
    }
    assert!(!entry_of("Boca Juniors vence 2-1 a River Plate en el superclásico").iter().any(|t| t.contains("Sevilla")));
}

#[test]
fn edition_names_are_optional_keys_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("names.toml");
    let good = "[[sources]]\nid = \"a\"\nurl = \"feeds/a.xml\"\n[[sections]]\nid = \"world\"\ntitle = \"World\"\ntitle_ar = \"العالم\"\ntitle_es = \"Mundo\"\n\
                group_ar = \"أخبار\"\n[[regions]]\nid = \"mena\"\ntitle_es = \"Oriente Medio\"\n";
    std::fs::write(&path, good).unwrap();
    let c = newsdesk::config::load(&path).unwrap();
    assert_eq!(c.sections[0].names.title_ar.as_deref(), Some("العالم"));
    assert_eq!(c.sections[0].names.title_es.as_deref(), Some("Mundo"));
    assert_eq!(c.sections[0].names.group_es, None);
    assert_eq!(c.regions[0].names.title_es.as_deref(), Some("Oriente Medio"));
    // A misspelt or unsupported edition key is an unknown key, with its line;
    // a region has no group.
    std::fs::write(&path, format!("{good}title_fr = \"Moyen-Orient\"\ngroup_ar = \"x\"\n")).unwrap();
    let shown: Vec<String> = newsdesk::config::load(&path).unwrap_err().0.iter().map(|e| e.to_string()).collect();
    let p = path.display();
    for want in [
        format!("{p}:13: regions \"mena\".title_fr: unknown key"),
        format!("{p}:14: regions \"mena\".group_ar: unknown key"),
    ] {
        assert!(shown.iter().any(|s| s.starts_with(&want)), "wanted {want:?} in {shown:#?}");
    }
}

/// `[storage] backend`: each mistake is refused with its line and key, and a
/// password comes from a file or the environment, never needing the config.
#[test]
fn storage_backend_keys_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let source = "[[sources]]\nid = \"a\"\nurl = \"https://a.example/\"\n";
    let load = |storage: &str| {
        newsdesk::config::load_str(&dir.path().join("n.toml"), &format!("[storage]\n{storage}\n{source}"))
    };
    let errors = |storage: &str| match load(storage) {
        Ok(_) => panic!("accepted: {storage}"),
        Err(e) => e.0.iter().map(|e| format!("{}: {}: {}", e.line, e.key, e.message)).collect::<Vec<_>>(),
    };
    assert_eq!(errors("backend = \"mysql\""), vec!["2: storage.backend: \"mysql\" is not \"sled\" or \"postgres\""]);
    assert!(errors("backend = \"postgres\"")[0].starts_with("2: storage.url: backend = \"postgres\" needs a url"));
    assert!(errors("url = \"postgres://a@b/c\"")[0].starts_with("2: storage.url: is for backend = \"postgres\""));
    assert!(errors("backend = \"postgres\"\nurl = \"postgres://a@b:notaport/c\"")[0]
        .starts_with("3: storage.url: is not a PostgreSQL"));
    let unset = "NEWSDESK_TEST_UNSET_PASSWORD_VARIABLE";
    assert_eq!(
        errors(&format!("backend = \"postgres\"\nurl = \"postgres://a@b/c\"\npassword_env = \"{unset}\"")),
        vec![format!("4: storage.password_env: the environment variable {unset} is not set")]
    );
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    let config = load(
        "backend = \"postgres\"\nurl = \"postgres://a@b/c\"\npassword_file = \"pw\"\nnode = \"n1\"\nlease = \"30s\"",
    )
    .expect("a valid PostgreSQL storage");
    let pg = config.storage.postgres.expect("the postgres backend");
    assert_eq!((pg.node.as_str(), pg.lease.as_secs(), pg.pool), ("n1", 30, 8));
    assert_eq!(pg.password.as_ref().map(|p| p.0.as_str()), Some("s3cret"));
    assert!(!format!("{pg:?}").contains("s3cret"), "the password is kept out of Debug output");
}
