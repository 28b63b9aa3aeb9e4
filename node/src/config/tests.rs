use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const EXAMPLE: &str = include_str!("../../../config.example.yaml");

fn parse(yaml: &str) -> Config {
    Config::from_yaml_str(yaml).expect("test config parses")
}

/// Returns the key path and message of a load error that must be a parse error.
fn parse_error(yaml: &str) -> (String, String) {
    match Config::from_yaml_str(yaml) {
        Err(ConfigError::Parse { path, message, .. }) => (path, message),
        other => panic!("expected a parse error for {yaml:?}, got {other:?}"),
    }
}

fn paths(issues: &[Issue]) -> Vec<&str> {
    issues.iter().map(|i| i.path.as_str()).collect()
}

/// The only issues of `config`, as `path: message` lines.
fn issue_lines(config: &Config) -> Vec<String> {
    config.validate().iter().map(ToString::to_string).collect()
}

#[test]
fn example_file_parses_validates_and_equals_default() {
    let config = parse(EXAMPLE);
    assert_eq!(config.validate(), Vec::<Issue>::new());
    assert_eq!(config, Config::default());
    assert_eq!(Config::default().validate(), Vec::<Issue>::new());
}

#[test]
fn example_file_values() {
    // Spot checks that the defaults are what the example's comments promise.
    let c = Config::default();
    assert_eq!(c.app.effective_log_format(), LogFormat::Text);
    assert_eq!(c.app.effective_log_file(), None);
    assert_eq!(c.mining.cpu.priority, CpuPriority::Low);
    assert!(c.pool.enable && c.api.enable);
    assert_eq!(c.mining.algorithm, MiningAlgorithm::Scrypt);
    assert_eq!(c.mining.asic.poll_interval, Duration::from_secs(5));
    assert_eq!(c.api.auth.token_expiry, Duration::from_secs(86_400));
    assert_eq!(c.pool.address.to_string(), "0.0.0.0:3333");
    assert_eq!(c.pool.rewards.system, RewardSystem::Pplns);
    assert_eq!(c.pool.rewards.window, None);
    assert_eq!(c.chains.len(), 1);
    assert_eq!(c.chains[0].spec, "ltc-main");
    assert_eq!(
        c.chains[0].daemons[0].cookie_file.as_deref(),
        Some(Path::new("~/.litecoin/.cookie"))
    );
    assert!(!c.mining.miner_enabled());
}

#[test]
fn keys_left_out_take_defaults() {
    let config = parse("mining:\n  gpu:\n    intensity: 25\n");
    let mut want = Config::default();
    want.mining.gpu.intensity = 25;
    assert_eq!(config, want);
}

#[test]
fn empty_documents_are_an_error() {
    for yaml in ["", "   \n", "# only a comment\n", "~\n", "null"] {
        assert!(
            matches!(Config::from_yaml_str(yaml), Err(ConfigError::Empty)),
            "{yaml:?}"
        );
    }
    let message = ConfigError::Empty.to_string();
    assert!(message.starts_with("the config is empty"), "{message}");
}

#[test]
fn unknown_keys_are_reported_with_their_full_path() {
    let cases = [
        ("colour: red\n", "colour"),
        ("mining:\n  gpu:\n    intensty: 20\n", "mining.gpu.intensty"),
        ("pool:\n  rewards:\n    windw: 5\n", "pool.rewards.windw"),
        (
            "monitoring:\n  health:\n    port: 1\n",
            "monitoring.health.port",
        ),
        (
            "chains:\n  - spec: ltc-main\n    daemons:\n      - url: http://127.0.0.1:9332\n      - url: http://127.0.0.1:9333\n        pasword: x\n",
            "chains[0].daemons[1].pasword",
        ),
    ];
    for (yaml, want) in cases {
        let (path, message) = parse_error(yaml);
        assert_eq!(path, want, "{yaml:?}");
        assert!(message.starts_with("unknown field"), "{message}");
    }
}

#[test]
fn wrong_types_are_reported_with_their_path() {
    let cases = [
        (
            "pool:\n  rewards:\n    system: PROP\n",
            "pool.rewards.system",
            "unknown variant `PROP`",
        ),
        (
            "mining:\n  algorithm: SHA256D\n",
            "mining.algorithm",
            "unknown variant `SHA256D`",
        ),
        (
            "app:\n  log_format: yaml\n",
            "app.log_format",
            "unknown variant `yaml`",
        ),
        (
            "pool:\n  max_connections: many\n",
            "pool.max_connections",
            "invalid type",
        ),
        (
            "pool:\n  address: localhost\n",
            "pool.address",
            "invalid socket address",
        ),
        (
            "api:\n  auth:\n    token_expiry: forever\n",
            "api.auth.token_expiry",
            "",
        ),
        (
            "mining:\n  gpu:\n    devices: [0, gpu1]\n",
            "mining.gpu.devices[1]",
            "invalid type",
        ),
        ("chains: ltc-main\n", "chains", "invalid type"),
        (
            "mining:\n  enable_cpu: maybe\n",
            "mining.enable_cpu",
            "invalid type",
        ),
    ];
    for (yaml, want_path, want_message) in cases {
        let (path, message) = parse_error(yaml);
        assert_eq!(path, want_path, "{yaml:?}: {message}");
        assert!(message.contains(want_message), "{yaml:?}: {message}");
    }
}

#[test]
fn parse_error_display_leads_with_the_path() {
    let err =
        Config::from_yaml_str("mining:\n  gpu:\n    intensty: 20\n").expect_err("unknown key");
    let line = err.to_string();
    assert!(
        line.starts_with("mining.gpu.intensty: unknown field `intensty`"),
        "{line}"
    );
    assert_eq!(err.to_issue().path, "mining.gpu.intensty");
}

#[test]
fn invalid_yaml_is_a_parse_error() {
    let err = Config::from_yaml_str("app: [unclosed\n").expect_err("invalid yaml");
    assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
}

#[test]
fn several_issues_are_reported_at_once() {
    let yaml = r#"
mining:
  algorithm: sha256d
  payout_address: ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9
  gpu: { intensity: 40, temperature_limit: 30 }
  asic: { temperature_limit: 110, temperature_sensor: hwmon2/temp1_input }
pool:
  fee_percentage: 1.5
  rewards: { window: 100 }
chains:
  - spec: ltc-main
    daemons:
      - url: http://127.0.0.1:9332
        cookie_file: ~/.litecoin/.cookie
      - url: http://10.0.0.2:9332
        cookie_file: /etc/ltc.cookie
        user: rpc
        password: hunter2
  - spec: foo
    daemons: []
  - spec: ltc-main
    daemons:
      - url: ftp://x
        user: rpc
"#;
    let lines = issue_lines(&parse(yaml));
    let want = [
        "mining.algorithm: sha256d does not match chain ltc-main (chains[0]), which uses scrypt",
        "mining.algorithm: sha256d does not match chain ltc-main (chains[2]), which uses scrypt",
        "mining.gpu.intensity: must be between 1 and 31, got 40",
        "mining.gpu.temperature_limit: must be between 40 and 105 (degrees Celsius), got 30",
        "mining.asic.temperature_limit: must be between 40 and 105 (degrees Celsius), got 110",
        "mining.asic.temperature_sensor: must be an absolute path to a hwmon temp*_input file, got \"hwmon2/temp1_input\"",
        WINDOW_100,
        WINDOW_100,
        "chains[0].daemons[1]: set either cookie_file or user+password, not both",
        "chains[1].spec: unknown chain spec \"foo\"; known: ltc-main, ltc-mini, ltc-regtest, btc-main, btc-mini, btc-regtest, btc-bench, rvn-main, rvn-regtest, xmr-main, xmr-mini, xmr-nano, xmr-regtest, etc-main, etc-regtest",
        "chains[1].daemons: at least one daemon is required",
        "chains[2].spec: duplicate chain spec \"ltc-main\", already at chains[0]",
        "chains[2].daemons[0].url: unsupported scheme \"ftp\"; expected http or https",
        "chains[2].daemons[0].password: required with user",
    ];
    assert_eq!(lines, want);
}

const WINDOW_100: &str = "pool.rewards.window: is 100 shares, but the PPLNS window is part of the \
    sharechain's consensus (every node must split rewards alike), so it cannot be set here: chain \
    ltc-main has 8640 shares of 15s each, 36h; leave it out, or write 8640 or 36h";

#[test]
fn the_window_may_equal_the_spec_cap() {
    let config = parse("pool:\n  rewards:\n    window: 8640\n");
    assert_eq!(config.validate(), Vec::<Issue>::new());
}

#[test]
fn an_empty_chain_list_is_an_issue() {
    let config = parse("chains: []\n");
    assert_eq!(
        issue_lines(&config),
        ["chains: at least one chain is required"]
    );
}

#[test]
fn a_daemon_needs_credentials() {
    let config = parse(
        "chains:\n  - spec: ltc-main\n    daemons:\n      - url: http://127.0.0.1:9332\n      - { url: http://h:1, password: p }\n",
    );
    assert_eq!(
        issue_lines(&config),
        [
            "chains[0].daemons[0]: set cookie_file, or user and password",
            "chains[0].daemons[1].user: required with password",
        ]
    );
    let ok = parse(
        "chains:\n  - spec: ltc-main\n    daemons:\n      - { url: \"http://[::1]:9332\", user: u, password: p }\n",
    );
    assert_eq!(ok.validate(), Vec::<Issue>::new());
}

#[test]
fn cpu_mining_must_match_the_chain_algorithm() {
    let yaml = "mining: { algorithm: scrypt, payout_address: bcrt1qexample }\nchains:\n  - spec: btc-regtest\n    daemons: [{ url: http://127.0.0.1:18443, cookie_file: c }]\n";
    assert_eq!(
        issue_lines(&parse(yaml)),
        [
            "mining.algorithm: scrypt does not match chain btc-regtest (chains[0]), which uses sha256d"
        ]
    );
    // Without the CPU miner the algorithm is not checked against the chains.
    let yaml = yaml.replace(
        "{ algorithm: scrypt, payout_address: bcrt1qexample }",
        "{ algorithm: scrypt, payout_address: bcrt1qexample, enable_cpu: false }",
    );
    assert_eq!(parse(&yaml).validate(), Vec::<Issue>::new());
}

#[test]
fn network_settings_are_checked() {
    let yaml = r#"
app: { name: "", log_level: verbose }
mining:
  payout_address: ltc1qexample
  pool_urls: ["http://pool:3333", "stratum+tcp://pool", "stratum2+tcp://[::1]:3336/9bXiEd8boQ"]
  gpu: { devices: [0, 1, 0] }
  asic: { poll_interval: 0s, devices: ["sim:bm1366x4", "usb:1", "10.0.0.9:4028"], family: bm1387, frequency: 20 }
pool: { max_connections: 10, max_connections_per_ip: 11 }
api: { address: 0.0.0.0:9090, auth: { token_expiry: 0s } }
monitoring: { health: { address: 127.0.0.1:3333 } }
p2p:
  listen: ["0.0.0.0:9333", "/ip4/0.0.0.0//tcp"]
  external_addresses: ["/dns4/pool.example.org/tcp/9333"]
  bootstrap: ["/ip4/1.2.3.4/tcp/9333", "/ip4/1.2.3.4/tcp/9333/p2p/12D3KooWabc"]
  max_peers: 0
"#;
    let want = [
        "app.name: must not be empty",
        "app.log_level: unknown level \"verbose\" in \"verbose\"; expected one of off, error, warn, info, debug, trace or target=level directives",
        "mining.pool_urls[0]: unsupported scheme \"http\" (stratum+tcp or stratum2+tcp): expected stratum+tcp://host:port or stratum2+tcp://host:port/KEY, got \"http://pool:3333\"",
        "mining.pool_urls[1]: missing port: expected stratum+tcp://host:port or stratum2+tcp://host:port/KEY, got \"stratum+tcp://pool\"",
        "mining.pool_urls[2]: bad authority key \"9bXiEd8boQ\": not a base58check key: bad checksum: expected stratum+tcp://host:port or stratum2+tcp://host:port/KEY, got \"stratum2+tcp://[::1]:3336/9bXiEd8boQ\"",
        "mining.gpu.devices[2]: device 0 is already listed at mining.gpu.devices[0]",
        "mining.asic.devices[1]: \"usb:1\": expected usb:BUS-ADDRESS, e.g. usb:1-4",
        "mining.asic.family: unknown chip family \"bm1387\": expected bm1397, bm1366, bm1368 or bm1370",
        "mining.asic.frequency: must be 0 (the chip's default) or 50 to 1000 MHz, got 20",
        "mining.asic.poll_interval: must be longer than 0s",
        "pool.max_connections_per_ip: must be between 1 and pool.max_connections (10), got 11",
        "api.auth.token_expiry: must be longer than 0s while auth is enabled",
        "monitoring.metrics.address: port 9090 is also used by api.address",
        "monitoring.health.address: port 3333 is also used by pool.address",
        "p2p.listen[0]: must be a multiaddr such as /ip4/0.0.0.0/tcp/9333, got \"0.0.0.0:9333\"",
        "p2p.listen[1]: must be a multiaddr such as /ip4/0.0.0.0/tcp/9333, got \"/ip4/0.0.0.0//tcp\"",
        "p2p.bootstrap[0]: must end with /p2p/<peer id>, got \"/ip4/1.2.3.4/tcp/9333\"",
        "p2p.max_peers: must be at least 1",
    ];
    assert_eq!(issue_lines(&parse(yaml)), want);
}

#[test]
fn log_level_accepts_directives() {
    for ok in ["info", "WARN", "info,otedama::p2p=debug", "otedama=trace"] {
        assert!(check_log_filter(ok).is_ok(), "{ok}");
    }
    for bad in ["", "otedama::p2p=loud", "info,verbose"] {
        assert!(check_log_filter(bad).is_err(), "{bad}");
    }
    let span = check_log_filter("info,otedama[conn{peer=x}]=debug").expect_err("span filter");
    assert!(span.to_string().contains("use target=level"), "{span}");
}

#[test]
fn the_password_never_appears_in_debug_output() {
    let config = parse(
        "chains:\n  - spec: ltc-main\n    daemons:\n      - { url: http://127.0.0.1:9332, user: rpc, password: hunter2-secret }\n",
    );
    let password = config.chains[0].daemons[0]
        .password
        .as_ref()
        .expect("password set");
    assert_eq!(password.expose(), "hunter2-secret");
    for text in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{password}"),
        serde_json::to_string(&config).expect("serializes"),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert!(format!("{config:?}").contains("Secret(<redacted>)"));
}

#[test]
fn cookie_path_expands_the_home_directory() {
    let daemon = &Config::default().chains[0].daemons[0];
    let home = Path::new("/home/miner");
    assert_eq!(
        daemon.cookie_path(Some(home)),
        Some(PathBuf::from("/home/miner/.litecoin/.cookie"))
    );
    assert_eq!(
        daemon.cookie_path(None),
        Some(PathBuf::from("~/.litecoin/.cookie"))
    );
    let absolute = DaemonConfig {
        cookie_file: Some("/var/lib/ltc/.cookie".into()),
        ..DaemonConfig::default()
    };
    assert_eq!(
        absolute.cookie_path(Some(home)),
        Some(PathBuf::from("/var/lib/ltc/.cookie"))
    );
}

#[test]
fn load_reports_an_unreadable_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.yaml");
    match Config::load(&missing) {
        Err(ConfigError::Read { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected a read error, got {other:?}"),
    }
    let file = dir.path().join("node.yaml");
    std::fs::write(&file, EXAMPLE).expect("write");
    assert_eq!(Config::load(&file).expect("loads"), Config::default());
}

#[test]
fn a_partial_section_keeps_its_other_defaults() {
    let config = parse("monitoring:\n  health:\n    address: 127.0.0.1:3333\n");
    assert!(config.monitoring.health.enabled);
    assert_eq!(config.monitoring.metrics, MetricsConfig::default());
    // The health endpoint is still on, so its port clashes with the pool's.
    assert_eq!(paths(&config.validate()), ["monitoring.health.address"]);
}

#[test]
fn cors_origins_must_be_origins() {
    let yaml = r#"
api:
  cors_origins: ["https://grafana.example:3000", "http://[::1]:8080", "*", "https://x/path", "ftp://x", "https://u@x"]
"#;
    assert_eq!(
        paths(&parse(yaml).validate()),
        [
            "api.cors_origins[2]",
            "api.cors_origins[3]",
            "api.cors_origins[4]",
            "api.cors_origins[5]"
        ]
    );
    assert!(Config::default().api.cors_origins.is_empty());
}
