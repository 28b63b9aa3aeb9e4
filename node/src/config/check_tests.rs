//! Tests of [`Config::check_yaml_str`] and of the keys the product README shows.

use std::time::Duration;

use super::*;

/// The configuration the product README shows, verbatim.
const README: &str = include_str!("../../tests/data/readme-config.yaml");

fn check(yaml: &str) -> Report {
    Config::check_yaml_str(yaml).expect("checkable document")
}

fn lines(issues: &[Issue]) -> Vec<String> {
    issues.iter().map(ToString::to_string).collect()
}

#[test]
fn the_readme_config_passes_unchanged() {
    let report = check(README);
    assert_eq!(lines(&report.issues), Vec::<String>::new());
    let c = &report.config;
    assert_eq!(c.app.mode, AppMode::Production);
    assert_eq!(c.app.effective_log_format(), LogFormat::Json);
    assert_eq!(
        c.app.effective_log_file().as_deref(),
        Some(std::path::Path::new("logs/otedama.log"))
    );
    assert_eq!(c.mining.cpu.priority, CpuPriority::Normal);
    assert_eq!(
        c.pool.rewards.window,
        Some(RewardsWindow::Duration(Duration::from_secs(7200)))
    );
    // A fee needs an address to be paid to, which the README leaves out; and with no
    // chains named, the window is only a doubt against the default chain.
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(
        report.warnings[0]
            .to_string()
            .starts_with("pool.fee_percentage (line 23): 1 % takes no fee until"),
        "{}",
        report.warnings[0]
    );
    assert!(
        report.warnings[1]
            .to_string()
            .starts_with("pool.rewards.window (line 26): is 2h, but the PPLNS window is part"),
        "{}",
        report.warnings[1]
    );
}

#[test]
fn the_readme_config_with_a_chain_and_addresses_passes_unchanged() {
    let with_chain = |spec: &str| {
        let yaml = README.to_owned()
            + &format!(
                "chains:\n  - spec: {spec}\n    daemons: [{{ url: http://127.0.0.1:8332, cookie_file: ~/.bitcoin/.cookie }}]\n"
            );
        yaml.replace(
            "  enable_cpu: true\n",
            "  enable_cpu: true\n  payout_address: bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\n",
        )
    };
    // The README's 2h is btc-mini's window (480 shares of 15 s).
    let report = check(&with_chain("btc-mini"));
    assert_eq!(lines(&report.issues), Vec::<String>::new());
    assert_eq!(lines(&report.warnings), Vec::<String>::new());
    assert_eq!(
        report
            .config
            .pool
            .fee_recipient(&report.config.mining.payout_address),
        Some("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
    );
    // On btc-main (8640 shares of 30 s, 72h) it is an error that names the chain it fits.
    let got = lines(&check(&with_chain("btc-main")).issues);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("pool.rewards.window (line 27): is 2h, but the PPLNS window is part")
            && got[0]
                .ends_with("leave it out, or write 8640 or 72h (chain btc-mini has that window)"),
        "{}",
        got[0]
    );
    let report = check(&with_chain("btc-main").replace("    window: 2h\n", "    window: 72h\n"));
    assert_eq!(lines(&report.issues), Vec::<String>::new());
}

#[test]
fn every_problem_comes_at_once_with_its_line_and_a_suggestion() {
    let yaml = "app:\n  mode: staging\nmining:\n  cpu:\n    prioity: idle\n    threads: many\n\
                pool:\n  fee_percentage: 12\n  priority: low\n  colour: red\n";
    let report = check(yaml);
    let got = lines(&report.issues);
    assert_eq!(got.len(), 6, "{got:#?}");
    assert_eq!(
        got[0],
        "mining.cpu.prioity (line 5): unknown key \"prioity\"; did you mean mining.cpu.priority?"
    );
    assert_eq!(
        got[1],
        "pool.priority (line 9): unknown key \"priority\" here; did you mean mining.cpu.priority?"
    );
    assert!(
        got[2].starts_with(
            "pool.colour (line 10): unknown key \"colour\"; expected one of enable, address"
        ),
        "{}",
        got[2]
    );
    assert!(
        got[3].starts_with("app.mode (line 2): unknown variant `staging`"),
        "{}",
        got[3]
    );
    assert!(
        got[4].starts_with("mining.cpu.threads (line 6): invalid type"),
        "{}",
        got[4]
    );
    assert_eq!(
        got[5],
        "pool.fee_percentage (line 8): must be between 0 and 10 (percent), got 12"
    );
}

#[test]
fn a_document_that_is_not_a_mapping_is_one_issue() {
    for yaml in ["[]\n", "- app\n", "42\n"] {
        let got = lines(&check(yaml).issues);
        assert_eq!(got.len(), 1, "{yaml}: {got:?}");
        assert!(
            got[0].starts_with("line 1: expected a mapping of sections"),
            "{}",
            got[0]
        );
    }
}

#[test]
fn invalid_yaml_is_one_error_with_its_line() {
    let err = Config::check_yaml_str("app:\n  name: [unclosed\n").expect_err("invalid");
    assert!(err.to_string().contains("line"), "{err}");
}

#[test]
fn the_window_is_a_share_count_or_a_duration_of_the_chains_window() {
    let chain = "chains:\n  - spec: ltc-main\n    daemons: [{ url: http://127.0.0.1:9332, cookie_file: c }]\n";
    for ok in ["8640", "36h", "36h 10s", "35h 59m 50s"] {
        let report = check(&format!("pool:\n  rewards:\n    window: {ok}\n{chain}"));
        assert_eq!(lines(&report.issues), Vec::<String>::new(), "{ok}");
    }
    for bad in ["8639", "2h", "36h 20s"] {
        let report = check(&format!("pool:\n  rewards:\n    window: {bad}\n{chain}"));
        let got = lines(&report.issues);
        assert_eq!(got.len(), 1, "{bad}: {got:?}");
        assert!(
            got[0].contains("part of the sharechain's consensus")
                && got[0].contains("ltc-main has 8640 shares of 15s each, 36h"),
            "{}",
            got[0]
        );
        assert_eq!(
            got[0].ends_with("(chain ltc-mini has that window)"),
            bad == "2h",
            "{}",
            got[0]
        );
    }
    let report = check("pool:\n  rewards:\n    window: soon\n");
    assert!(
        lines(&report.issues)[0].contains("expected a share count (8640) or a duration (36h)"),
        "{:?}",
        report.issues
    );
}

#[test]
fn a_cpu_beyond_what_a_thread_can_be_pinned_to_is_refused() {
    let report = check("mining:\n  cpu:\n    affinity: [0, 1024]\n");
    let got = lines(&report.issues);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("mining.cpu.affinity[1]")
            && got[0].contains("CPU 1024 is beyond the 1024 a thread can be pinned to"),
        "{}",
        got[0]
    );
    let report = check("mining:\n  cpu:\n    affinity: [0, 1, 1]\n");
    assert_eq!(lines(&report.issues), Vec::<String>::new());
    assert_eq!(
        report.config.mining.cpu.cpu_affinity().cpus(),
        &[0, 1, 1],
        "threads may share a CPU"
    );
}

#[test]
fn pps_is_refused_with_the_reason() {
    let report = check("pool:\n  rewards:\n    system: PPS\n");
    let got = lines(&report.issues);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("pool.rewards.system (line 3): PPS is not possible here")
            && got[0].contains("Use PPLNS"),
        "{}",
        got[0]
    );
}

#[test]
fn the_fee_is_bounded_and_needs_a_valid_address() {
    let report = check("pool:\n  fee_percentage: -1\n  fee_address: nonsense\n");
    let got = lines(&report.issues);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("pool.fee_percentage (line 2): must be between 0 and 10"));
    assert!(
        got[1].starts_with("pool.fee_address (line 3): not an address of chain ltc-main"),
        "{}",
        got[1]
    );
    // Without a fee address the fee goes to the payout address, which must then be one.
    let got =
        lines(&check("pool: { fee_percentage: 1 }\nmining: { payout_address: nonsense }\n").issues);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            "mining.payout_address (line 2): not an address of chain ltc-main (chains[0]) \
             (the fee is paid to it, as pool.fee_address is empty)"
        ),
        "{}",
        got[0]
    );
    let ok = check(
        "pool:\n  fee_percentage: 2.5\n  fee_address: ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9\n",
    );
    assert_eq!(lines(&ok.issues), Vec::<String>::new());
}

#[test]
fn production_refuses_an_exposed_api_without_auth() {
    let yaml =
        "app: { mode: production }\napi:\n  address: 0.0.0.0:8080\n  auth: { enabled: false }\n";
    let got = lines(&check(yaml).issues);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("api.auth.enabled (line 4): must be true in production mode"),
        "{}",
        got[0]
    );
    // On loopback, in development, or with the API off, it is allowed.
    for allowed in [
        yaml.replace("0.0.0.0", "127.0.0.1"),
        yaml.replace("production", "development"),
        yaml.replace("api:\n", "api:\n  enable: false\n"),
    ] {
        assert_eq!(
            lines(&check(&allowed).issues),
            Vec::<String>::new(),
            "{allowed}"
        );
    }
}

#[test]
fn disabled_listeners_do_not_clash() {
    let yaml = "pool: { enable: false, address: 127.0.0.1:8080 }\n";
    assert_eq!(lines(&check(yaml).issues), Vec::<String>::new());
    let clash = "pool: { address: 127.0.0.1:8080 }\n";
    assert_eq!(check(clash).issues.len(), 1);
}

#[test]
fn log_settings_follow_the_mode_unless_set() {
    let c = check("app: { mode: production, log_file: \"\", log_format: text }\n").config;
    assert_eq!(c.app.effective_log_file(), None);
    assert_eq!(c.app.effective_log_format(), LogFormat::Text);
    let c = check("app: { log_file: x.log }\n").config;
    assert_eq!(
        c.app.effective_log_file().as_deref(),
        Some(std::path::Path::new("x.log"))
    );
    let got = lines(&check("app:\n  log_rotation: { keep: 0, max_size_mb: 0 }\n").issues);
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn the_example_file_checks_clean() {
    let report = check(include_str!("../../../config.example.yaml"));
    assert_eq!(lines(&report.issues), Vec::<String>::new());
    assert_eq!(lines(&report.warnings), Vec::<String>::new());
    assert_eq!(report.config, Config::default());
}

#[test]
fn an_algorithm_without_a_miner_backend_is_refused_once_the_miner_would_run() {
    for algorithm in ["ethash", "etchash", "randomx"] {
        let running = check(&format!(
            "mining:\n  algorithm: {algorithm}\n  payout_address: mwopeMg7P6Kzkss6LMqwHq46uW7vazrcZA\n"
        ));
        let got = lines(&running.issues);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with(&format!(
                "mining.algorithm (line 2): {algorithm} mines no chain of this config"
            )),
            "{}",
            got[0]
        );
        // Without a payout address the miner does not run: the value is only kept.
        let idle = check(&format!("mining:\n  algorithm: {algorithm}\n"));
        assert_eq!(lines(&idle.issues), Vec::<String>::new());
    }
}

/// KawPow mines Ravencoin chains only, and a KawPow chain's Stratum promises nothing
/// it cannot do (no SV2); it takes the operator's fee like any other, and its built-in
/// miner mines on remote KawPow pools too.
#[test]
fn kawpow_mines_ravencoin_chains_on_their_own_terms() {
    const RVN: &str =
        "mining:\n  algorithm: kawpow\n  payout_address: mwopeMg7P6Kzkss6LMqwHq46uW7vazrcZA\n";
    let on_ltc = lines(&check(RVN).issues);
    assert_eq!(on_ltc.len(), 1, "{on_ltc:?}");
    assert!(
        on_ltc[0].contains("kawpow does not match chain ltc-main (chains[0]), which uses scrypt"),
        "{}",
        on_ltc[0]
    );
    let chain = "chains:\n  - spec: rvn-regtest\n    daemons:\n      - url: http://127.0.0.1:18766\n        user: u\n        password: p\n";
    let clean = check(&format!("{RVN}{chain}"));
    assert_eq!(lines(&clean.issues), Vec::<String>::new());
    let remote = check(&format!(
        "{RVN}  pool_urls: [\"stratum+tcp://127.0.0.1:3333\"]\npool:\n  fee_percentage: 1\n{chain}"
    ));
    assert_eq!(lines(&remote.issues), Vec::<String>::new());
    let sv2 = check(&format!(
        "{RVN}  pool_urls: [\"stratum2+tcp://127.0.0.1:3336/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72\"]\n{chain}"
    ));
    let got = lines(&sv2.issues);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("mining.pool_urls[0]") && got[0].contains("KawPow dialect"),
        "{got:?}"
    );
}

#[test]
fn an_etc_chain_is_solo_and_the_config_says_so() {
    const LOGIN: &str = "0x2222222222222222222222222222222222222222";
    let etc = |mining: &str, extra: &str| {
        check(&format!(
            "{mining}{extra}chains:\n  - spec: etc-regtest\n    daemons:\n      - url: http://127.0.0.1:8545\n"
        ))
    };
    let mining = format!("mining:\n  algorithm: etchash\n  payout_address: \"{LOGIN}\"\n");
    let ok = etc(&mining, "");
    assert_eq!(lines(&ok.issues), Vec::<String>::new());
    let warned = lines(&ok.warnings);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("mined solo") && warned[0].contains("etherbase"),
        "{}",
        warned[0]
    );
    // Nothing may promise what a solo chain cannot do.
    let bad = etc(
        "mining:\n  algorithm: scrypt\n  payout_address: LTC1\n",
        "pool:\n  fee_percentage: 1\n  rewards:\n    window: 100\n",
    );
    let got = lines(&bad.issues);
    for want in [
        "mining.algorithm (line 2): scrypt cannot mine an Ethereum Classic chain; set etchash",
        "pool.fee_percentage (line 5): a solo Ethereum Classic node cannot take a fee",
        "pool.rewards.window (line 7): a solo Ethereum Classic node has no PPLNS window",
        "mining.payout_address (line 3): the built-in miner logs in with it, so it must be an Ethereum Classic address",
    ] {
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "{want:?} not in {got:?}"
        );
    }
    // The built-in miner may use a GPU of either API, not an ASIC.
    let asic = etc(&format!("{mining}  enable_asic: true\n"), "");
    let got = lines(&asic.issues);
    assert!(
        got.len() == 1 && got[0].starts_with("mining.enable_asic"),
        "{got:?}"
    );
    for backend in ["opencl", "cuda"] {
        let gpu = etc(
            &format!("{mining}  enable_gpu: true\n  gpu:\n    backend: {backend}\n"),
            "",
        );
        assert_eq!(lines(&gpu.issues), Vec::<String>::new());
    }
    // One chain per process.
    let two = check(&format!(
        "{mining}chains:\n  - spec: etc-regtest\n    daemons:\n      - url: http://127.0.0.1:8545\n  - spec: ltc-regtest\n    daemons:\n      - url: http://127.0.0.1:19443\n        user: u\n        password: p\n"
    ));
    assert!(
        lines(&two.issues)
            .iter()
            .any(|l| l.contains("an Ethereum Classic chain runs alone")),
        "{:?}",
        lines(&two.issues)
    );
}

#[test]
fn a_monero_chain_needs_a_primary_address_runs_alone_and_may_name_zmq() {
    const XMR: &str = "48HfMc3JNky1399DpLdNH1BcUse1eTWGseX94a9UjV2BdfkM2cx3WZthQmgjGhfW8wVnPbvtyHXGTbeExuZFywfH9jwCyPF";
    let monero = |address: &str, extra: &str| {
        format!(
            "mining:\n  algorithm: randomx\n  enable_cpu: false\n  payout_address: {address}\n\
             chains:\n  - spec: xmr-regtest\n    daemons:\n      - url: http://127.0.0.1:18081\n        \
             zmq: tcp://127.0.0.1:18083\n{extra}"
        )
    };
    let ok = check(&monero(XMR, ""));
    assert_eq!(lines(&ok.issues), Vec::<String>::new());
    assert_eq!(
        ok.config.chains[0]
            .monero_params()
            .map(|p| p.name)
            .as_deref(),
        Some("xmr-regtest")
    );
    let bitcoin = check(&monero("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", ""));
    assert!(
        lines(&bitcoin.issues)
            .iter()
            .any(|l| l.starts_with("mining.payout_address") && l.contains("Monero chain")),
        "{:?}",
        bitcoin.issues
    );
    let two = check(&monero(
        XMR,
        "  - spec: ltc-regtest\n    daemons:\n      - url: http://127.0.0.1:19443\n        user: u\n        password: p\n",
    ));
    assert!(
        lines(&two.issues).iter().any(|l| l.contains("runs alone")),
        "{:?}",
        two.issues
    );
    // The Monero Stratum charges no fee: the config says so rather than ignore one.
    let fee = check(&format!("{}pool:\n  fee_percentage: 1\n", monero(XMR, "")));
    assert_eq!(
        lines(&fee.issues),
        vec![
            "pool.fee_percentage (line 11): the Monero Stratum takes no operator fee; set it to 0"
        ]
    );
    let zmq_on_litecoin = check(
        "chains:\n  - spec: ltc-regtest\n    daemons:\n      - url: http://127.0.0.1:19443\n        \
         user: u\n        password: p\n        zmq: tcp://127.0.0.1:1\n",
    );
    assert!(
        lines(&zmq_on_litecoin.issues)
            .iter()
            .any(|l| l.contains("only Monero chains")),
        "{:?}",
        zmq_on_litecoin.issues
    );
}

/// `mining.cpu.randomx_vm` names the built-in miner's RandomX VM; another name is refused
/// with its line.
#[test]
fn the_randomx_vm_is_chosen_by_name() {
    use otedama_miner::randomx::VmEngine;
    for (name, engine) in [
        ("auto", VmEngine::Auto),
        ("single", VmEngine::Single),
        ("pair", VmEngine::Pair),
        ("library", VmEngine::Library),
    ] {
        let report = check(&format!("mining:\n  cpu:\n    randomx_vm: {name}\n"));
        assert_eq!(lines(&report.issues), Vec::<String>::new(), "{name}");
        assert_eq!(report.config.mining.cpu.randomx_vm.engine(), engine);
        assert_eq!(engine.name(), name);
    }
    let quad = check("mining:\n  cpu:\n    randomx_vm: quad\n");
    let got = lines(&quad.issues);
    assert!(
        got.first().is_some_and(
            |l| l.starts_with("mining.cpu.randomx_vm (line 3): unknown variant `quad`")
        ),
        "{got:?}"
    );
}
