//! The bounds on config input: size, nesting, alias expansion, text length, control
//! characters, and short quotes in messages.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::*;

/// Runs `f` and fails if it took longer than `limit`: bounded input means bounded time.
fn quickly<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
    out
}

fn issues_at(config: &Config, path: &str) -> Vec<String> {
    config
        .validate()
        .into_iter()
        .filter(|i| i.path == path)
        .map(|i| i.message)
        .collect()
}

#[test]
fn a_billion_laughs_is_refused_quickly() {
    let mut yaml = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let refs = vec![format!("*l{}", level - 1); 10].join(", ");
        writeln!(yaml, "l{level}: &l{level} [{refs}]").expect("write");
    }
    let err = quickly(Duration::from_secs(1), || Config::from_yaml_str(&yaml))
        .expect_err("expands to 10^10 nodes");
    assert!(
        matches!(
            err,
            ConfigError::TooExpanded {
                limit: MAX_EXPANDED,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("aliases"), "{message}");
    assert!(message.contains(&MAX_EXPANDED.to_string()), "{message}");
}

#[test]
fn a_long_value_aliased_many_times_is_refused() {
    // Under the size bound as written, gigabytes once every alias is a copy.
    let yaml = format!(
        "app:\n  name: &n {}\np2p:\n  listen: [{}]\n",
        "x".repeat(100_000),
        vec!["*n"; 100_000].join(", ")
    );
    assert!(yaml.len() < MAX_CONFIG_BYTES);
    let err = quickly(Duration::from_secs(2), || Config::from_yaml_str(&yaml))
        .expect_err("expands to 10 GB");
    assert!(matches!(err, ConfigError::TooExpanded { .. }), "{err:?}");
}

#[test]
fn aliases_in_ordinary_use_still_work() {
    let yaml = "p2p:\n  listen: &l [\"/ip4/0.0.0.0/tcp/9333\"]\n  external_addresses: *l\n";
    let config = Config::from_yaml_str(yaml).expect("parses");
    assert_eq!(config.p2p.external_addresses, config.p2p.listen);
}

#[test]
fn deep_flow_nesting_is_refused_quickly() {
    let yaml = format!("app: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let err =
        quickly(Duration::from_secs(1), || Config::from_yaml_str(&yaml)).expect_err("too deep");
    assert!(
        matches!(
            err,
            ConfigError::TooDeep {
                limit: MAX_DEPTH,
                line: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("nests deeper than the limit of 32 levels"),
        "{err}"
    );
}

#[test]
fn deep_block_nesting_is_refused() {
    let mut yaml = String::new();
    for level in 0..MAX_DEPTH + 1 {
        writeln!(yaml, "{}k{level}:", " ".repeat(level)).expect("write");
    }
    let err = Config::from_yaml_str(&yaml).expect_err("too deep");
    assert!(matches!(err, ConfigError::TooDeep { .. }), "{err:?}");
}

#[test]
fn an_alias_counts_the_depth_it_expands_to() {
    // Each half is within the bound; the alias puts one inside the other.
    let half = MAX_DEPTH / 2 + 1;
    let deep = format!("{}{}", "[".repeat(half), "]".repeat(half));
    let yaml = format!(
        "a: &a {deep}\nb: {}*a{}\n",
        "[".repeat(half),
        "]".repeat(half)
    );
    let err = Config::from_yaml_str(&yaml).expect_err("too deep once expanded");
    assert!(
        matches!(err, ConfigError::TooDeep { line: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn a_file_over_the_size_bound_is_refused_unread() {
    let name = "x".repeat(50 * 1024 * 1024);
    let err = Config::from_yaml_str(&format!("app:\n  name: {name}\n")).expect_err("too large");
    assert!(
        matches!(
            err,
            ConfigError::TooLarge {
                limit: MAX_CONFIG_BYTES
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("1048576 bytes"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.yaml");
    std::fs::write(
        &file,
        format!("app:\n  name: {}\n", "x".repeat(MAX_CONFIG_BYTES)),
    )
    .expect("write");
    let err = Config::load(&file).expect_err("too large");
    assert!(matches!(err, ConfigError::TooLarge { .. }), "{err:?}");
    // Not a read error: `config check` reports it as an issue of the file.
    assert!(err.to_issue().path.is_empty());
}

#[test]
fn an_endless_file_is_read_no_further_than_the_bound() {
    let err = quickly(Duration::from_secs(2), || Config::load("/dev/zero")).expect_err("endless");
    assert!(matches!(err, ConfigError::TooLarge { .. }), "{err:?}");
}

#[test]
fn a_megabyte_value_is_quoted_short_in_parse_errors() {
    let value = "y".repeat(1_000_000);
    let err = Config::from_yaml_str(&format!("app:\n  log_format: {value}\n"))
        .expect_err("unknown variant");
    let message = err.to_string();
    assert!(
        message.starts_with("app.log_format: unknown variant `yyyy"),
        "{message}"
    );
    assert!(message.contains("yyy...`"), "{message}");
    assert!(message.len() < 1100, "{} bytes", message.len());

    let err = Config::from_yaml_str(&format!("{value}: 1\n")).expect_err("unknown key");
    let issue = err.to_issue();
    assert!(issue.path.len() < 300, "{} bytes", issue.path.len());
    assert!(issue.message.len() < 1100, "{} bytes", issue.message.len());
}

#[test]
fn a_long_node_name_is_refused_with_a_short_quote() {
    let mut config = Config::default();
    config.app.name = "n".repeat(50 * 1024 * 1024);
    let messages = issues_at(&config, "app.name");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("must be at most 64 bytes, got \"nnnn"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].ends_with("... (52428800 bytes)"),
        "{}",
        messages[0]
    );

    let yaml = format!("app:\n  name: {}\n", "n".repeat(MAX_NAME_BYTES + 1));
    let config = Config::from_yaml_str(&yaml).expect("parses");
    assert_eq!(issues_at(&config, "app.name").len(), 1);
    let yaml = format!("app:\n  name: {}\n", "n".repeat(MAX_NAME_BYTES));
    assert_eq!(Config::from_yaml_str(&yaml).expect("parses").validate(), []);
}

#[test]
fn control_characters_are_refused_in_paths_and_identities() {
    let yaml = r#"
app:
  name: "node\tone"
  data_dir: "/var/lib/ote\0dama"
mining:
  payout_address: "ltc1q\u001b[2J"
chains:
  - spec: ltc-main
    daemons:
      - url: http://127.0.0.1:9332
        user: "rpc\r\nX-Injected: 1"
        password: "pass\u0007word"
"#;
    let config = Config::from_yaml_str(yaml).expect("parses");
    let issues = config.validate();
    let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "app.name: must not contain control characters, got U+0009 at byte 4",
            "app.data_dir: must not contain control characters, got U+0000 at byte 12",
            "mining.payout_address: must not contain control characters, got U+001B at byte 5",
            "chains[0].daemons[0].user: must not contain control characters, got U+000D at byte 3",
            "chains[0].daemons[0].password: must not contain control characters, got U+0007 at byte 4",
        ]
    );

    let yaml = "chains:\n  - spec: ltc-main\n    daemons:\n      - url: http://127.0.0.1:9332\n        cookie_file: \"/home/ltc/.cookie\\n\"\n";
    let config = Config::from_yaml_str(yaml).expect("parses");
    assert_eq!(
        issues_at(&config, "chains[0].daemons[0].cookie_file"),
        ["must not contain control characters, got U+000A at byte 17"]
    );
}

#[test]
fn a_long_password_is_refused_without_being_quoted() {
    let mut config = Config::default();
    let daemon = &mut config.chains[0].daemons[0];
    daemon.cookie_file = None;
    daemon.user = Some("rpc".into());
    daemon.password = Some(Secret::new("s".repeat(2000)));
    assert_eq!(
        issues_at(&config, "chains[0].daemons[0].password"),
        ["must be at most 1024 bytes, got 2000 bytes"]
    );
}

#[test]
fn long_addresses_are_refused_before_their_meaning_is_checked() {
    let mut config = Config::default();
    config.p2p.bootstrap = vec![format!("/ip4/{}", "9".repeat(5000))];
    config.mining.pool_urls = vec!["z".repeat(5000)];
    let bootstrap = issues_at(&config, "p2p.bootstrap[0]");
    assert_eq!(bootstrap.len(), 1, "{bootstrap:?}");
    assert!(
        bootstrap[0].starts_with("must be at most 1024 bytes"),
        "{}",
        bootstrap[0]
    );
    let pool = issues_at(&config, "mining.pool_urls[0]");
    assert_eq!(pool.len(), 1, "{pool:?}");
    assert!(pool[0].len() < 200, "{}", pool[0]);
}

#[test]
fn quotes_are_short() {
    assert_eq!(quote("short"), "\"short\"");
    assert_eq!(quote("a\0b"), "\"a\\0b\"");
    let long = "é".repeat(100);
    assert_eq!(quote(&long), format!("{:?}... (200 bytes)", "é".repeat(64)));
}
