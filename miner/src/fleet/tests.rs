//! Fleet client tests against loopback fake miners replaying replies in the formats of
//! cgminer's api.c (JSON and text), bmminer (Antminer S19), btminer (Whatsminer), and
//! the malformed replies pyasic works around.

use super::repair::repair_json;
use super::text::parse_text;
use super::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------
// Replies. cgminer 4.11 with two GekkoScience-style ASCs: JSON, then the same as text.
// ---------------------------------------------------------------------------------------

const CG_SUMMARY: &str = r#"{"STATUS":[{"STATUS":"S","When":1700000000,"Code":11,"Msg":"Summary","Description":"cgminer 4.11.1"}],"SUMMARY":[{"Elapsed":3600,"MHS av":13504.25,"MHS 5s":13612.75,"MHS 1m":13590.50,"MHS 5m":13520.25,"MHS 15m":13510.00,"Found Blocks":0,"Getworks":120,"Accepted":1024,"Rejected":3,"Hardware Errors":7,"Utility":17.07,"Discarded":240,"Stale":2,"Get Failures":0,"Local Work":30000,"Remote Failures":0,"Network Blocks":6,"Total MH":48615300.0000,"Work Utility":188.61,"Difficulty Accepted":11272.00000000,"Difficulty Rejected":32.00000000,"Difficulty Stale":16.00000000,"Best Share":65536,"Device Hardware%":0.0612,"Device Rejected%":0.2830,"Pool Rejected%":0.2830,"Pool Stale%":0.1415,"Last getwork":1700000000}],"id":1}"#;

const CG_DEVS: &str = r#"{"STATUS":[{"STATUS":"S","When":1700000000,"Code":9,"Msg":"2 ASC(s)","Description":"cgminer 4.11.1"}],"DEVS":[{"ASC":0,"Name":"GSF","ID":0,"Enabled":"Y","Status":"Alive","Temperature":41.50,"MHS av":6752.25,"MHS 5s":6806.50,"MHS 1m":6795.25,"MHS 5m":6760.00,"MHS 15m":6755.00,"Accepted":512,"Rejected":1,"Hardware Errors":3,"Utility":8.53,"Last Share Pool":0,"Last Share Time":1699999990,"Total MH":24308100.0000,"Diff1 Work":5636,"Difficulty Accepted":5632.00000000,"Difficulty Rejected":16.00000000,"Last Share Difficulty":16.00000000,"No Device":false,"Last Valid Work":1699999999,"Device Hardware%":0.0532,"Device Rejected%":0.2839,"Device Elapsed":3600},{"ASC":1,"Name":"GSF","ID":1,"Enabled":"N","Status":"Sick","Temperature":0.00,"MHS av":6752.00,"MHS 5s":6806.25,"MHS 1m":6795.00,"MHS 5m":6760.25,"MHS 15m":6755.25,"Accepted":512,"Rejected":2,"Hardware Errors":4,"Utility":8.53,"Last Share Pool":0,"Last Share Time":1699999995,"Total MH":24307200.0000,"Diff1 Work":5668,"Difficulty Accepted":5640.00000000,"Difficulty Rejected":16.00000000,"Last Share Difficulty":16.00000000,"No Device":false,"Last Valid Work":1699999999,"Device Hardware%":0.0705,"Device Rejected%":0.2823,"Device Elapsed":3600}],"id":1}"#;

const CG_POOLS: &str = r#"{"STATUS":[{"STATUS":"S","When":1700000000,"Code":7,"Msg":"2 Pool(s)","Description":"cgminer 4.11.1"}],"POOLS":[{"POOL":0,"URL":"stratum+tcp://pool.example:3333","Status":"Alive","Priority":0,"Quota":1,"Long Poll":"N","Getworks":120,"Accepted":1024,"Rejected":3,"Works":4096,"Discarded":240,"Stale":2,"Get Failures":0,"Remote Failures":0,"User":"acct.w=1,x|y\\z","Last Share Time":1699999999,"Diff1 Shares":11304,"Proxy Type":"","Proxy":"","Difficulty Accepted":11272.00000000,"Difficulty Rejected":32.00000000,"Difficulty Stale":16.00000000,"Last Share Difficulty":16.00000000,"Work Difficulty":16.00000000,"Has Stratum":true,"Stratum Active":true,"Stratum URL":"pool.example","Stratum Difficulty":16.00000000,"Has Vmask":true,"Has GBT":false,"Best Share":65536,"Pool Rejected%":0.2830,"Pool Stale%":0.1415,"Bad Work":0,"Current Block Height":800000,"Current Block Version":536870912},{"POOL":1,"URL":"stratum+tcp://backup.example:3333","Status":"Alive","Priority":1,"Quota":1,"Long Poll":"N","Getworks":0,"Accepted":0,"Rejected":0,"Works":0,"Discarded":0,"Stale":0,"Get Failures":0,"Remote Failures":0,"User":"acct.w2","Last Share Time":0,"Diff1 Shares":0,"Proxy Type":"","Proxy":"","Difficulty Accepted":0.00000000,"Difficulty Rejected":0.00000000,"Difficulty Stale":0.00000000,"Last Share Difficulty":0.00000000,"Work Difficulty":0.00000000,"Has Stratum":true,"Stratum Active":false,"Stratum URL":"","Stratum Difficulty":0.00000000,"Has Vmask":false,"Has GBT":false,"Best Share":0,"Pool Rejected%":0.0000,"Pool Stale%":0.0000,"Bad Work":0,"Current Block Height":0,"Current Block Version":0}],"id":1}"#;

const CG_STATS: &str = r#"{"STATUS":[{"STATUS":"S","When":1700000000,"Code":70,"Msg":"CGMiner stats","Description":"cgminer 4.11.1"}],"STATS":[{"STATS":0,"ID":"GSF0","Elapsed":3600,"Calls":0,"Wait":0.000000,"Max":0.000000,"Min":99999999.000000,"USB Pipe":"0","USB Delay":"r0 0.000000 w0 0.000000","USB tmo":"0 0"},{"STATS":1,"ID":"POOL0","Elapsed":3600,"Calls":0,"Wait":0.000000,"Max":0.000000,"Min":99999999.000000,"Pool Calls":0,"Pool Attempts":0,"Pool Wait":0.000000,"Pool Max":0.000000,"Pool Min":99999999.000000,"Pool Av":0.000000,"Work Had Roll Time":false,"Work Can Roll":false,"Work Had Expire":false,"Work Roll Time":0,"Work Diff":16.00000000,"Min Diff":16.00000000,"Max Diff":16.00000000,"Min Diff Count":100,"Max Diff Count":100,"Times Sent":1200,"Bytes Sent":150000,"Times Recv":1300,"Bytes Recv":400000,"Net Bytes Sent":150000,"Net Bytes Recv":400000}],"id":1}"#;

const CG_TEXT_SUMMARY: &str = "STATUS=S,When=1700000000,Code=11,Msg=Summary,Description=cgminer 4.11.1|SUMMARY,Elapsed=3600,MHS av=13504.25,MHS 5s=13612.75,MHS 1m=13590.50,MHS 5m=13520.25,MHS 15m=13510.00,Found Blocks=0,Getworks=120,Accepted=1024,Rejected=3,Hardware Errors=7,Utility=17.07,Discarded=240,Stale=2,Get Failures=0,Local Work=30000,Remote Failures=0,Network Blocks=6,Total MH=48615300.0000,Work Utility=188.61,Difficulty Accepted=11272.00000000,Difficulty Rejected=32.00000000,Difficulty Stale=16.00000000,Best Share=65536,Device Hardware%=0.0612,Device Rejected%=0.2830,Pool Rejected%=0.2830,Pool Stale%=0.1415,Last getwork=1700000000|\0";

const CG_TEXT_DEVS: &str = "STATUS=S,When=1700000000,Code=9,Msg=2 ASC(s),Description=cgminer 4.11.1|ASC=0,Name=GSF,ID=0,Enabled=Y,Status=Alive,Temperature=41.50,MHS av=6752.25,MHS 5s=6806.50,MHS 1m=6795.25,MHS 5m=6760.00,MHS 15m=6755.00,Accepted=512,Rejected=1,Hardware Errors=3,Utility=8.53,Last Share Pool=0,Last Share Time=1699999990,Total MH=24308100.0000,Diff1 Work=5636,Difficulty Accepted=5632.00000000,Difficulty Rejected=16.00000000,Last Share Difficulty=16.00000000,No Device=false,Last Valid Work=1699999999,Device Hardware%=0.0532,Device Rejected%=0.2839,Device Elapsed=3600|ASC=1,Name=GSF,ID=1,Enabled=N,Status=Sick,Temperature=0.00,MHS av=6752.00,MHS 5s=6806.25,MHS 1m=6795.00,MHS 5m=6760.25,MHS 15m=6755.25,Accepted=512,Rejected=2,Hardware Errors=4,Utility=8.53,Last Share Pool=0,Last Share Time=1699999995,Total MH=24307200.0000,Diff1 Work=5668,Difficulty Accepted=5640.00000000,Difficulty Rejected=16.00000000,Last Share Difficulty=16.00000000,No Device=false,Last Valid Work=1699999999,Device Hardware%=0.0705,Device Rejected%=0.2823,Device Elapsed=3600|\0";

// The first pool's user holds the four characters the text form escapes.
const CG_TEXT_POOLS: &str = "STATUS=S,When=1700000000,Code=7,Msg=2 Pool(s),Description=cgminer 4.11.1|POOL=0,URL=stratum+tcp://pool.example:3333,Status=Alive,Priority=0,Quota=1,Long Poll=N,Getworks=120,Accepted=1024,Rejected=3,Works=4096,Discarded=240,Stale=2,Get Failures=0,Remote Failures=0,User=acct.w\\=1\\,x\\|y\\\\z,Last Share Time=1699999999,Diff1 Shares=11304,Proxy Type=,Proxy=,Difficulty Accepted=11272.00000000,Difficulty Rejected=32.00000000,Difficulty Stale=16.00000000,Last Share Difficulty=16.00000000,Work Difficulty=16.00000000,Has Stratum=true,Stratum Active=true,Stratum URL=pool.example,Stratum Difficulty=16.00000000,Has Vmask=true,Has GBT=false,Best Share=65536,Pool Rejected%=0.2830,Pool Stale%=0.1415,Bad Work=0,Current Block Height=800000,Current Block Version=536870912|POOL=1,URL=stratum+tcp://backup.example:3333,Status=Alive,Priority=1,Quota=1,Long Poll=N,Getworks=0,Accepted=0,Rejected=0,Works=0,Discarded=0,Stale=0,Get Failures=0,Remote Failures=0,User=acct.w2,Last Share Time=0,Diff1 Shares=0,Proxy Type=,Proxy=,Difficulty Accepted=0.00000000,Difficulty Rejected=0.00000000,Difficulty Stale=0.00000000,Last Share Difficulty=0.00000000,Work Difficulty=0.00000000,Has Stratum=true,Stratum Active=false,Stratum URL=,Stratum Difficulty=0.00000000,Has Vmask=false,Has GBT=false,Best Share=0,Pool Rejected%=0.0000,Pool Stale%=0.0000,Bad Work=0,Current Block Height=0,Current Block Version=0|\0";

const CG_TEXT_STATS: &str = "STATUS=S,When=1700000000,Code=70,Msg=CGMiner stats,Description=cgminer 4.11.1|STATS=0,ID=GSF0,Elapsed=3600,Calls=0,Wait=0.000000,Max=0.000000,Min=99999999.000000,USB Pipe=0,USB Delay=r0 0.000000 w0 0.000000,USB tmo=0 0|STATS=1,ID=POOL0,Elapsed=3600,Calls=0,Wait=0.000000,Max=0.000000,Min=99999999.000000,Pool Calls=0,Pool Attempts=0,Pool Wait=0.000000,Pool Max=0.000000,Pool Min=99999999.000000,Pool Av=0.000000,Work Had Roll Time=false,Work Can Roll=false,Work Had Expire=false,Work Roll Time=0,Work Diff=16.00000000,Min Diff=16.00000000,Max Diff=16.00000000,Min Diff Count=100,Max Diff Count=100,Times Sent=1200,Bytes Sent=150000,Times Recv=1300,Bytes Recv=400000,Net Bytes Sent=150000,Net Bytes Recv=400000|\0";

const CG_INVALID: &str = r#"{"STATUS":[{"STATUS":"E","When":1700000000,"Code":14,"Msg":"Invalid command","Description":"cgminer 4.11.1"}],"id":1}"#;

// ---------------------------------------------------------------------------------------
// Antminer S19j Pro (bmminer): GH/s, a string hash rate, and `}{` inside STATS.
// ---------------------------------------------------------------------------------------

const S19_SUMMARY: &str = r#"{"STATUS":[{"STATUS":"S","When":1680000000,"Code":11,"Msg":"Summary","Description":"bmminer 1.0.0"}],"SUMMARY":[{"Elapsed":8564,"GHS 5s":"100235.75","GHS av":100195.25,"GHS 30m":100190.50,"Found Blocks":0,"Getworks":285,"Accepted":3690,"Rejected":4,"Hardware Errors":12,"Utility":25.85,"Discarded":8230,"Stale":0,"Get Failures":0,"Local Work":1123456,"Remote Failures":0,"Network Blocks":58,"Total MH":858316100000.0000,"Work Utility":1400203.25,"Difficulty Accepted":199802880.00000000,"Difficulty Rejected":262144.00000000,"Difficulty Stale":0.00000000,"Best Share":2087593431,"Device Hardware%":0.0001,"Device Rejected%":0.1312,"Pool Rejected%":0.1310,"Pool Stale%":0.0000,"Last getwork":1680000000}],"id":1}"#;

const S19_DEVS: &str = r#"{"STATUS":[{"STATUS":"E","When":1680000000,"Code":10,"Msg":"No ASCs","Description":"bmminer 1.0.0"}],"id":1}"#;

const S19_POOLS: &str = r#"{"STATUS":[{"STATUS":"S","When":1680000000,"Code":7,"Msg":"1 Pool(s)","Description":"bmminer 1.0.0"}],"POOLS":[{"POOL":0,"URL":"stratum+tcp://pool.example:3333","Status":"Alive","Priority":0,"Quota":1,"Long Poll":"N","Getworks":285,"Accepted":3690,"Rejected":4,"Discarded":8230,"Stale":0,"Get Failures":0,"Remote Failures":0,"User":"acct.s19","Last Share Time":"0:00:03","Diff":"65.5K","Diff1 Shares":0,"Proxy Type":"","Proxy":"","Difficulty Accepted":199802880.00000000,"Difficulty Rejected":262144.00000000,"Difficulty Stale":0.00000000,"Last Share Difficulty":65536.00000000,"Has Stratum":true,"Stratum Active":true,"Stratum URL":"pool.example","Has GBT":false,"Best Share":2087593431,"Pool Rejected%":0.1310,"Pool Stale%":0.0000}],"id":1}"#;

const S19_STATS: &str = r#"{"STATUS":[{"STATUS":"S","When":1680000000,"Code":70,"Msg":"BMMiner stats","Description":"bmminer 1.0.0"}],"STATS":[{"BMMiner":"1.0.0","Miner":"uart_trans.1.3","CompileTime":"Mon Nov 1 16:28:04 CST 2021","Type":"Antminer S19j Pro"}{"STATS":0,"ID":"BC50","Elapsed":8564,"Calls":0,"Wait":0.000000,"Max":0.000000,"Min":99999999.000000,"GHS 5s":"100235.75","GHS av":100195.25,"miner_count":3,"frequency":"","fan_num":4,"fan1":5400,"fan2":5460,"fan3":5520,"fan4":5580,"temp_num":3,"temp1":61,"temp2":60,"temp3":62,"temp2_1":76,"temp2_2":75,"temp2_3":77,"temp_pcb1":"46-44-61-59","temp_pcb2":"45-43-60-58","temp_pcb3":"47-45-62-60","temp_chip1":"61-59-76-74","temp_chip2":"60-58-75-73","temp_chip3":"62-60-77-75","total_rateideal":99000.00,"total_freqavg":525,"total_acn":377,"total rate":100235.75,"rate_unit":"GH/s","chain_acn1":126,"chain_acn2":126,"chain_acn3":125,"chain_acs1":" oooooooo oooooooo oooooooo","chain_acs2":" oooooooo oooooooo oooooooo","chain_acs3":" oooooooo oooooooo ooooooo-","chain_hw1":4,"chain_hw2":3,"chain_hw3":5,"chain_rate1":"33411.25","chain_rate2":"33412.50","chain_rate3":"33412.00","chain_rateideal1":33000.00,"chain_rateideal2":33000.00,"chain_rateideal3":33000.00,"temp_max":62,"Device Hardware%":0.0001,"no_matching_work":12,"chain_consumption1":1081,"chain_consumption2":1081,"chain_consumption3":1081}],"id":1}"#;

// ---------------------------------------------------------------------------------------
// Whatsminer (btminer 2.x): temperature and fans in the summary; errors with a string
// STATUS at the top level.
// ---------------------------------------------------------------------------------------

const WM_SUMMARY: &str = r#"{"STATUS":[{"STATUS":"S","When":1690000000,"Code":11,"Msg":"Summary","Description":"btminer"}],"SUMMARY":[{"Elapsed":86400,"MHS av":110432125.50,"MHS 5s":111250250.25,"MHS 1m":110987654.32,"MHS 5m":110512345.67,"MHS 15m":110456789.01,"HS RT":110500000.00,"Accepted":5760,"Rejected":6,"Total MH":9541357329600.0000,"Temperature":78.50,"freq_avg":620,"Fan Speed In":4530,"Fan Speed Out":4500,"Power":3300,"Power Rate":29.88,"Pool Rejected%":0.1041,"Pool Stale%":0.0000,"Uptime":86500,"Hash Stable":true,"Hash Stable Cost Seconds":1200,"Hash Deviation%":0.1234,"Target Freq":620,"Target MHS":110000000,"Env Temp":25.00,"Power Mode":"Normal","Factory GHS":110000,"Power Limit":3500,"Chip Temp Min":70.00,"Chip Temp Max":88.25,"Chip Temp Avg":80.50,"Debug":"-0.0_100.0_0","Btminer Fast Boot":"disable"}],"id":1}"#;

const WM_DEVS: &str = r#"{"STATUS":[{"STATUS":"S","When":1690000000,"Code":9,"Msg":"3 ASC(s)","Description":"btminer"}],"DEVS":[{"ASC":0,"Slot":0,"Enabled":"Y","Status":"Alive","Temperature":76.00,"Chip Frequency":620,"MHS av":36810708.50,"MHS 5s":37083416.75,"MHS 1m":36995884.77,"MHS 5m":36837448.55,"MHS 15m":36818929.67,"HS RT":36833333.33,"Factory GHS":36666,"Upfreq Complete":1,"Effective Chips":156,"PCB SN":"HEM1B2K21234","Chip Temp Min":70.00,"Chip Temp Max":86.50,"Chip Temp Avg":79.50},{"ASC":1,"Slot":1,"Enabled":"Y","Status":"Alive","Temperature":"77.25","Chip Frequency":620,"MHS av":36810708.25,"MHS 5s":37083416.50,"Effective Chips":156},{"ASC":2,"Slot":2,"Enabled":"Y","Status":"Alive","Temperature":75.50,"Chip Frequency":620,"MHS av":36810708.75,"MHS 5s":37083417.00,"Effective Chips":156}],"id":1}"#;

const WM_POOLS: &str = r#"{"STATUS":[{"STATUS":"S","When":1690000000,"Code":7,"Msg":"1 Pool(s)","Description":"btminer"}],"POOLS":[{"POOL":0,"URL":"stratum+tcp://pool.example:3333","Status":"Alive","Priority":0,"Quota":1,"Long Poll":"N","Getworks":1400,"Accepted":5760,"Rejected":6,"Works":123456,"Discarded":0,"Stale":0,"Get Failures":0,"Remote Failures":0,"User":"acct.m30","Last Share Time":1689999990,"Stratum Active":true,"Stratum URL":"pool.example","Stratum Difficulty":65536.00000000}],"id":1}"#;

const WM_INVALID: &str =
    r#"{"STATUS":"E","When":1690000000,"Code":14,"Msg":"invalid cmd","Description":""}"#;

// ---------------------------------------------------------------------------------------
// Malformed: the multi-report as concatenated objects (`}{`), trailing `,}` and `,]`,
// bare `inf`/`nan`, a raw newline inside a string, and a truncated `stats`.
// ---------------------------------------------------------------------------------------

const QUIRKY_JOINED: &str = "{\"STATUS\":[{\"STATUS\":\"S\",\"When\":1700000000,\"Code\":11,\"Msg\":\"Summary\",\"Description\":\"cgminer\n4.11.1\",}],\"SUMMARY\":[{\"Elapsed\":3600,\"MHS av\":13504.25,\"MHS 5s\":inf,\"Accepted\":1024,\"Rejected\":3,\"Hardware Errors\":nan,\"Stale\":2,\"Best Share\":65536,}],\"id\":1}{\"STATUS\":[{\"STATUS\":\"S\",\"When\":1700000000,\"Code\":9,\"Msg\":\"1 ASC(s)\",\"Description\":\"cgminer\n4.11.1\"}],\"DEVS\":[{\"ASC\":0,\"Name\":\"GSF\",\"Enabled\":\"Y\",\"Status\":\"Alive\",\"Temperature\":-inf,\"MHS av\":6752.25,\"MHS 5s\":6806.50,\"Accepted\":512,},],\"id\":1}{\"STATUS\":[{\"STATUS\":\"S\",\"When\":1700000000,\"Code\":7,\"Msg\":\"1 Pool(s)\",\"Description\":\"cgminer\n4.11.1\"}],\"POOLS\":[,{\"POOL\":0,\"URL\":\"stratum+tcp://pool.example:3333\",\"Status\":\"Alive\",\"Priority\":0,\"User\":\"acct\nw1\",\"Accepted\":1024}],\"id\":1}\0";

/// [`S19_STATS`] cut off in the middle of the third chain's chip count.
fn s19_stats_truncated() -> &'static str {
    let end = S19_STATS
        .find(r#""chain_acn3":1"#)
        .map(|i| i + r#""chain_acn3":1"#.len())
        .expect("marker in the capture");
    &S19_STATS[..end]
}

// ---------------------------------------------------------------------------------------
// The fake miner.
// ---------------------------------------------------------------------------------------

/// What the fake miner does with a request.
#[derive(Clone)]
enum Reply {
    /// Sends these bytes and closes.
    Bytes(Vec<u8>),
    /// Accepts and never answers.
    Silent,
    /// Sends this many bytes of JSON-looking filler and closes.
    Flood(usize),
}

fn reply(s: &str) -> Reply {
    Reply::Bytes(s.as_bytes().to_vec())
}

/// Replies to the commands in `routes` (the multi-report by its joined name); every other
/// command gets cgminer's "Invalid command".
#[derive(Clone, Default)]
struct Routes(HashMap<&'static str, Reply>);

impl Routes {
    fn with(mut self, command: &'static str, reply: Reply) -> Self {
        self.0.insert(command, reply);
        self
    }
}

/// The commands a fake miner received, in order.
type Log = Arc<Mutex<Vec<String>>>;

/// Starts a fake miner on 127.0.0.1 and returns its address and request log.
async fn fake_miner(routes: Routes) -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("local address");
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let routes = routes.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                // Like api.c: one read of the request.
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let command = command_of(&buf[..n]);
                seen.lock().expect("log").push(command.clone());
                let reply = routes
                    .0
                    .get(command.as_str())
                    .cloned()
                    .unwrap_or_else(|| reply(CG_INVALID));
                match reply {
                    Reply::Bytes(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                    }
                    Reply::Silent => std::future::pending::<()>().await,
                    Reply::Flood(len) => {
                        let chunk = vec![b' '; 64 * 1024];
                        let _ = stream.write_all(b"{\"a\":\"").await;
                        let mut sent = 0;
                        while sent < len {
                            if stream.write_all(&chunk).await.is_err() {
                                break;
                            }
                            sent += chunk.len();
                        }
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    (address, log)
}

/// The command of a JSON request (`{"command":"summary"}`) or a text one (`summary|0`).
fn command_of(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => v
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Err(_) => text.split('|').next().unwrap_or_default().to_owned(),
    }
}

fn requests(log: &Log) -> Vec<String> {
    log.lock().expect("log").clone()
}

fn options(format: Format) -> ApiOptions {
    ApiOptions {
        format,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
    }
}

/// A loopback address nothing listens on.
async fn dead_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local address")
}

fn cgminer_routes() -> Routes {
    Routes::default()
        .with("summary", reply(CG_SUMMARY))
        .with("devs", reply(CG_DEVS))
        .with("pools", reply(CG_POOLS))
        .with("stats", reply(CG_STATS))
}

/// cgminer's multi-report: each command's reply in a one-element array under its name.
fn cgminer_joined() -> String {
    format!(r#"{{"summary":[{CG_SUMMARY}],"devs":[{CG_DEVS}],"pools":[{CG_POOLS}],"id":1}}"#)
}

/// What [`CG_SUMMARY`], [`CG_DEVS`], [`CG_POOLS`] and [`CG_STATS`] say.
fn cgminer_report() -> MinerReport {
    let summary = Summary {
        hashrate: Some(13_612_750_000.0),
        hashrate_avg: Some(13_504_250_000.0),
        accepted: Some(1024),
        rejected: Some(3),
        hardware_errors: Some(7),
        stale: Some(2),
        elapsed: Some(3600),
        best_share: Some(65536),
        temperature: None,
    };
    let devices = vec![
        DeviceStats {
            kind: Some(DeviceKind::Asc),
            index: Some(0),
            name: Some("GSF".into()),
            enabled: Some(true),
            status: Some("Alive".into()),
            temperature: Some(41.5),
            hashrate: Some(6_806_500_000.0),
            hashrate_avg: Some(6_752_250_000.0),
            accepted: Some(512),
            rejected: Some(1),
            hardware_errors: Some(3),
            fan_speed: None,
        },
        DeviceStats {
            kind: Some(DeviceKind::Asc),
            index: Some(1),
            name: Some("GSF".into()),
            enabled: Some(false),
            status: Some("Sick".into()),
            temperature: Some(0.0),
            hashrate: Some(6_806_250_000.0),
            hashrate_avg: Some(6_752_000_000.0),
            accepted: Some(512),
            rejected: Some(2),
            hardware_errors: Some(4),
            fan_speed: None,
        },
    ];
    let pools = vec![
        PoolStatus {
            index: Some(0),
            url: Some("stratum+tcp://pool.example:3333".into()),
            status: Some("Alive".into()),
            priority: Some(0),
            user: Some("acct.w=1,x|y\\z".into()),
            accepted: Some(1024),
            rejected: Some(3),
            stale: Some(2),
            stratum_active: Some(true),
        },
        PoolStatus {
            index: Some(1),
            url: Some("stratum+tcp://backup.example:3333".into()),
            status: Some("Alive".into()),
            priority: Some(1),
            user: Some("acct.w2".into()),
            accepted: Some(0),
            rejected: Some(0),
            stale: Some(0),
            stratum_active: Some(false),
        },
    ];
    MinerReport {
        summary,
        devices,
        pools,
        chains: Vec::new(),
        fans: Vec::new(),
        temperatures: vec![41.5, 0.0],
    }
}

// ---------------------------------------------------------------------------------------
// Reports over TCP.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn cgminer_json_multi_report() {
    let routes = cgminer_routes().with("summary+devs+pools", Reply::Bytes(cgminer_joined().into()));
    let (address, log) = fake_miner(routes).await;
    let client = FleetClient::new(address, options(Format::Json));
    let report = client.report().await.expect("report");
    assert_eq!(report, cgminer_report());
    assert_eq!(report.max_temperature(), Some(41.5));
    assert_eq!(requests(&log), ["summary+devs+pools", "stats"]);
}

#[tokio::test]
async fn cgminer_text_replies_parse_like_json() {
    let routes = Routes::default()
        .with("summary", reply(CG_TEXT_SUMMARY))
        .with("devs", reply(CG_TEXT_DEVS))
        .with("pools", reply(CG_TEXT_POOLS))
        .with("stats", reply(CG_TEXT_STATS));
    let (address, log) = fake_miner(routes).await;
    let client = FleetClient::new(address, options(Format::Text));
    let report = client.report().await.expect("report");
    assert_eq!(report, cgminer_report());
    assert_eq!(requests(&log), ["summary", "devs", "pools", "stats"]);
}

#[tokio::test]
async fn single_requests_check_the_status() {
    let (address, _log) = fake_miner(cgminer_routes()).await;
    let client = FleetClient::new(address, options(Format::Json));
    let summary = client.request(Command::Summary).await.expect("summary");
    assert_eq!(summary["SUMMARY"][0]["Accepted"], json!(1024));
    let refused = client.request(Command::Edevs).await;
    assert!(
        matches!(
            &refused,
            Err(FleetError::Refused { command: "edevs", code: Some(14), message })
                if message == "Invalid command"
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn antminer_rejecting_multi_report_falls_back() {
    let routes = Routes::default()
        .with("summary", reply(S19_SUMMARY))
        .with("devs", reply(S19_DEVS))
        .with("pools", reply(S19_POOLS))
        .with("stats", reply(S19_STATS));
    let (address, log) = fake_miner(routes).await;
    let client = FleetClient::new(address, options(Format::Json));
    let report = client.report().await.expect("report");
    assert_eq!(
        requests(&log),
        ["summary+devs+pools", "summary", "devs", "pools", "stats"]
    );

    assert_eq!(
        report.summary,
        Summary {
            hashrate: Some(100_235_750_000_000.0),
            hashrate_avg: Some(100_195_250_000_000.0),
            accepted: Some(3690),
            rejected: Some(4),
            hardware_errors: Some(12),
            stale: Some(0),
            elapsed: Some(8564),
            best_share: Some(2_087_593_431),
            temperature: None,
        }
    );
    // `devs` answered "No ASCs": no devices, not an error.
    assert!(report.devices.is_empty());
    assert_eq!(report.pools.len(), 1);
    assert_eq!(report.pools[0].user.as_deref(), Some("acct.s19"));
    assert_eq!(report.pools[0].stratum_active, Some(true));
    assert_eq!(
        report.chains,
        [
            ChainStats {
                index: 1,
                chips: Some(126),
                hashrate: Some(33_411_250_000_000.0),
                board_temperature: Some(61.0),
                chip_temperature: Some(76.0),
            },
            ChainStats {
                index: 2,
                chips: Some(126),
                hashrate: Some(33_412_500_000_000.0),
                board_temperature: Some(60.0),
                chip_temperature: Some(75.0),
            },
            ChainStats {
                index: 3,
                chips: Some(125),
                hashrate: Some(33_412_000_000_000.0),
                board_temperature: Some(62.0),
                chip_temperature: Some(77.0),
            },
        ]
    );
    assert_eq!(report.fans, [5400, 5460, 5520, 5580]);
    assert_eq!(report.temperatures, [61.0, 60.0, 62.0, 76.0, 75.0, 77.0]);
    assert_eq!(report.max_temperature(), Some(77.0));
}

#[tokio::test]
async fn whatsminer_summary_fans_and_temperatures() {
    let routes = Routes::default()
        .with("summary+devs+pools", reply(WM_INVALID))
        .with("summary", reply(WM_SUMMARY))
        .with("devs", reply(WM_DEVS))
        .with("pools", reply(WM_POOLS))
        .with("stats", reply(WM_INVALID));
    let (address, log) = fake_miner(routes).await;
    let client = FleetClient::new(address, options(Format::Json));
    let report = client.report().await.expect("report");
    assert_eq!(
        requests(&log),
        ["summary+devs+pools", "summary", "devs", "pools", "stats"]
    );
    assert_eq!(
        report.summary,
        Summary {
            hashrate: Some(111_250_250_250_000.0),
            hashrate_avg: Some(110_432_125_500_000.0),
            accepted: Some(5760),
            rejected: Some(6),
            hardware_errors: None,
            stale: None,
            elapsed: Some(86400),
            best_share: None,
            temperature: Some(78.5),
        }
    );
    assert_eq!(report.fans, [4530, 4500]);
    assert_eq!(report.devices.len(), 3);
    let board = &report.devices[1];
    assert_eq!(board.kind, Some(DeviceKind::Asc));
    assert_eq!(board.index, Some(1));
    // A string temperature is read as a number.
    assert_eq!(board.temperature, Some(77.25));
    assert_eq!(board.hashrate, Some(37_083_416_500_000.0));
    assert_eq!(board.hashrate_avg, Some(36_810_708_250_000.0));
    assert_eq!(board.accepted, None);
    assert!(report.chains.is_empty());
    assert_eq!(report.temperatures, [78.5, 76.0, 77.25, 75.5]);
    assert_eq!(report.max_temperature(), Some(78.5));
    assert_eq!(
        report.pools[0].url.as_deref(),
        Some("stratum+tcp://pool.example:3333")
    );
}

#[tokio::test]
async fn malformed_replies_are_repaired() {
    let routes = Routes::default()
        .with("summary+devs+pools", reply(QUIRKY_JOINED))
        .with("stats", reply(s19_stats_truncated()));
    let (address, log) = fake_miner(routes).await;
    let client = FleetClient::new(address, options(Format::Json));
    let report = client.report().await.expect("report");
    assert_eq!(requests(&log), ["summary+devs+pools", "stats"]);

    // `inf` and `nan` are unknown values, the rest of the object is intact.
    assert_eq!(
        report.summary,
        Summary {
            hashrate: None,
            hashrate_avg: Some(13_504_250_000.0),
            accepted: Some(1024),
            rejected: Some(3),
            hardware_errors: None,
            stale: Some(2),
            elapsed: Some(3600),
            best_share: Some(65536),
            temperature: None,
        }
    );
    assert_eq!(report.devices.len(), 1);
    assert_eq!(report.devices[0].temperature, None);
    assert_eq!(report.devices[0].hashrate, Some(6_806_500_000.0));
    assert_eq!(report.devices[0].accepted, Some(512));
    // `[,{` and a raw newline inside a string.
    assert_eq!(report.pools.len(), 1);
    assert_eq!(report.pools[0].user.as_deref(), Some("acct\nw1"));
    assert_eq!(report.pools[0].accepted, Some(1024));
    // The truncated `stats` keeps what arrived whole: chains 1 and 2, and the fans and
    // temperatures listed before the cut.
    assert_eq!(
        report.chains,
        [
            ChainStats {
                index: 1,
                chips: Some(126),
                hashrate: None,
                board_temperature: Some(61.0),
                chip_temperature: Some(76.0),
            },
            ChainStats {
                index: 2,
                chips: Some(126),
                hashrate: None,
                board_temperature: Some(60.0),
                chip_temperature: Some(75.0),
            },
        ]
    );
    assert_eq!(report.fans, [5400, 5460, 5520, 5580]);
}

#[tokio::test]
async fn unreadable_multi_report_falls_back() {
    // A miner that closes without a reply to `+`, and one that sends garbage.
    for joined in [reply(""), reply("\0\0garbage")] {
        let routes = cgminer_routes().with("summary+devs+pools", joined);
        let (address, log) = fake_miner(routes).await;
        let client = FleetClient::new(address, options(Format::Json));
        let report = client.report().await.expect("report");
        assert_eq!(report, cgminer_report());
        assert_eq!(
            requests(&log),
            ["summary+devs+pools", "summary", "devs", "pools", "stats"]
        );
    }
}

#[tokio::test]
async fn refused_summary_is_an_error() {
    let (address, _log) = fake_miner(Routes::default()).await;
    let client = FleetClient::new(address, options(Format::Text));
    let result = client.report().await;
    assert!(
        matches!(
            result,
            Err(FleetError::Refused {
                command: "summary",
                code: Some(14),
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn silent_miner_times_out() {
    let routes = Routes::default().with("summary+devs+pools", Reply::Silent);
    let (address, _log) = fake_miner(routes).await;
    let client = FleetClient::new(
        address,
        ApiOptions {
            read_timeout: Duration::from_millis(200),
            ..options(Format::Json)
        },
    );
    let started = std::time::Instant::now();
    let result = client.report().await;
    assert!(
        matches!(result, Err(FleetError::Timeout(Stage::Reply))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn oversized_reply_is_an_error() {
    let routes = Routes::default().with("summary", Reply::Flood(2 * MAX_REPLY));
    let (address, _log) = fake_miner(routes).await;
    let client = FleetClient::new(address, options(Format::Json));
    let result = client.request(Command::Summary).await;
    assert!(
        matches!(result, Err(FleetError::TooLarge { limit: MAX_REPLY })),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_endless_reply_stops_at_the_limit_and_names_it() {
    let routes = Routes::default().with("summary", Reply::Flood(usize::MAX));
    let (address, _log) = fake_miner(routes).await;
    let client = FleetClient::new(address, options(Format::Json));
    let started = std::time::Instant::now();
    let result = client.request(Command::Summary).await;
    let Err(error) = result else {
        panic!("an endless reply is refused, got {result:?}");
    };
    assert!(
        matches!(error, FleetError::TooLarge { limit: MAX_REPLY }),
        "{error}"
    );
    assert!(
        error.to_string().contains(&MAX_REPLY.to_string()),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn refused_connection_is_an_error() {
    let client = FleetClient::new(dead_address().await, options(Format::Json));
    let result = client.report().await;
    assert!(matches!(result, Err(FleetError::Connect(_))), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// The monitor.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn monitor_keeps_one_report_and_one_error() {
    let routes = cgminer_routes().with("summary+devs+pools", Reply::Bytes(cgminer_joined().into()));
    let (alive, _log) = fake_miner(routes).await;
    let dead = dead_address().await;
    let monitor = FleetMonitor::start(
        &[alive, dead],
        options(Format::Json),
        Duration::from_millis(50),
    )
    .expect("start");
    let mut polls = monitor.polls();
    let polled = |devices: &[FleetDevice]| {
        devices[0].last_ok.is_some() && devices[1].consecutive_failures >= 2
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while !polled(&monitor.snapshot()) {
            polls.changed().await.expect("monitor running");
        }
    })
    .await
    .expect("both miners polled");

    let devices = monitor.snapshot();
    assert_eq!(devices[0].address, alive);
    assert_eq!(devices[0].last_ok, Some(cgminer_report()));
    assert_eq!(devices[0].last_error, None);
    assert_eq!(devices[0].consecutive_failures, 0);
    assert_eq!(devices[1].address, dead);
    assert_eq!(devices[1].last_ok, None);
    assert!(
        devices[1]
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("connect")),
        "{:?}",
        devices[1].last_error
    );
    tokio::time::timeout(Duration::from_secs(10), monitor.stop())
        .await
        .expect("monitor stops");
}

#[tokio::test]
async fn monitor_rejects_bad_settings() {
    let address = dead_address().await;
    let too_many = vec![address; MAX_DEVICES + 1];
    assert_eq!(
        FleetMonitor::start(&too_many, ApiOptions::default(), Duration::from_secs(1)).err(),
        Some(MonitorError::TooManyDevices {
            count: MAX_DEVICES + 1,
            max: MAX_DEVICES
        })
    );
    assert_eq!(
        FleetMonitor::start(&[address], ApiOptions::default(), Duration::ZERO).err(),
        Some(MonitorError::ZeroInterval)
    );
}

#[test]
fn monitor_needs_a_runtime() {
    let address = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT));
    assert_eq!(
        FleetMonitor::start(&[address], ApiOptions::default(), Duration::from_secs(1)).err(),
        Some(MonitorError::NoRuntime)
    );
}

// ---------------------------------------------------------------------------------------
// Pure parsing.
// ---------------------------------------------------------------------------------------

fn repaired(input: &str) -> Value {
    let fixed = repair_json(input.as_bytes());
    serde_json::from_slice(&fixed).unwrap_or_else(|e| {
        panic!(
            "{input:?} repaired to {:?}: {e}",
            String::from_utf8_lossy(&fixed)
        )
    })
}

#[test]
fn repair_fixes_each_known_defect() {
    assert_eq!(repaired(r#"{"a":1,}"#), json!({"a": 1}));
    assert_eq!(repaired(r#"{"a":[1,2,],}"#), json!({"a": [1, 2]}));
    assert_eq!(repaired(r#"{"a":[1, 2 , ] }"#), json!({"a": [1, 2]}));
    assert_eq!(repaired(r#"{"a":[,{"b":1}]}"#), json!({"a": [{"b": 1}]}));
    assert_eq!(
        repaired(r#"{"S":[{"a":1}{"b":2}]}"#),
        json!({"S": [{"a": 1}, {"b": 2}]})
    );
    assert_eq!(repaired(r#"{"a":1}{"b":2}"#), json!([{"a": 1}, {"b": 2}]));
    assert_eq!(repaired(r#"{"a":1},{"b":2},"#), json!([{"a": 1}, {"b": 2}]));
    assert_eq!(
        repaired(r#"{"a":inf,"b":-inf,"c":nan,"d":NaN,"e":Infinity,"info":"inf"}"#),
        json!({"a": null, "b": null, "c": null, "d": null, "e": null, "info": "inf"})
    );
    assert_eq!(repaired(r#","id":1}"#), json!({"id": 1}));
    assert_eq!(
        repaired("{\"a\":\"x\ny\r\t\u{1}\"}"),
        json!({"a": "x\ny\r\t\u{1}"})
    );
    assert_eq!(repaired("{\"a\":\"x\\|y\"}"), json!({"a": "x\\|y"}));
    assert_eq!(repaired("{\"a\":1}\0\0"), json!({"a": 1}));
    assert_eq!(repaired("{\"a\":\0 1}"), json!({"a": 1}));
    // Valid JSON passes through unchanged.
    assert_eq!(
        repair_json(CG_SUMMARY.as_bytes()),
        CG_SUMMARY.as_bytes().to_vec()
    );
}

#[test]
fn repair_closes_truncated_replies() {
    assert_eq!(repaired(r#"{"a":1,"b":2"#), json!({"a": 1}));
    assert_eq!(repaired(r#"{"a":1,"b":"tw"#), json!({"a": 1}));
    assert_eq!(
        repaired(r#"{"a":[1,2,{"c":"x"},"#),
        json!({"a": [1, 2, {"c": "x"}]})
    );
    assert_eq!(repaired(r#"{"a":{"b":1}"#), json!({"a": {"b": 1}}));
    assert_eq!(repaired(r#"{"a":["#), json!({"a": []}));
    assert_eq!(repaired(r#"{"a":1}{"b":"#), json!([{"a": 1}, {}]));
    assert_eq!(repaired("{\"a\":\"x\\"), json!({}));
}

#[test]
fn every_truncation_of_a_json_reply_parses() {
    for reply in [CG_SUMMARY, CG_DEVS, S19_STATS, WM_SUMMARY, QUIRKY_JOINED] {
        for end in 1..=reply.len() {
            let Some(prefix) = reply.get(..end) else {
                continue;
            };
            let parsed = parse_reply(prefix.as_bytes(), "SUMMARY");
            assert!(parsed.is_ok(), "{prefix:?}: {parsed:?}");
        }
    }
}

#[test]
fn text_replies_unescape_and_split() {
    let value = parse_text(
        "STATUS=S,When=1,Code=7,Msg=1 Pool(s),Description=cgminer 4.11.1|POOL=0,User=a\\=b\\,c\\|d\\\\e,Odd=\\x,Empty=,Bare|\0",
        "POOLS",
    );
    assert_eq!(
        value,
        json!({
            "STATUS": [{"STATUS": "S", "When": "1", "Code": "7", "Msg": "1 Pool(s)", "Description": "cgminer 4.11.1"}],
            "POOLS": [{"POOL": "0", "User": "a=b,c|d\\e", "Odd": "\\x", "Empty": ""}]
        })
    );
    // The section name of a summary carries no data.
    let value = parse_text("STATUS=S,Code=11|SUMMARY,Elapsed=5,MHS av=1.5|", "SUMMARY");
    assert_eq!(value["SUMMARY"], json!([{"Elapsed": "5", "MHS av": "1.5"}]));
    // A value may hold `=` unescaped after the first one.
    let value = parse_text("STATUS=S|X=a=b", "X");
    assert_eq!(value["X"], json!([{"X": "a=b"}]));
}

#[test]
fn refusals_are_found_in_both_status_forms() {
    for reply in [
        CG_INVALID,
        WM_INVALID,
        "STATUS=E,When=1,Code=14,Msg=Invalid command,Description=cgminer|",
    ] {
        let value = parse_reply(reply.as_bytes(), "SUMMARY").expect("parses");
        let result = check_status(&value, "summary");
        assert!(
            matches!(result, Err(FleetError::Refused { code: Some(14), .. })),
            "{reply}: {result:?}"
        );
    }
    let fatal = json!({"STATUS": [{"STATUS": "F", "Msg": "dead"}]});
    assert!(check_status(&fatal, "summary").is_err());
    for fine in [
        json!({"STATUS": [{"STATUS": "S"}]}),
        json!({"STATUS": [{"STATUS": "I"}]}),
        json!({"STATUS": [{"STATUS": "W"}]}),
        json!({"SUMMARY": []}),
        json!([1, 2]),
    ] {
        assert!(check_status(&fine, "summary").is_ok(), "{fine}");
    }
}

#[test]
fn odd_field_types_are_none_not_errors() {
    let summary = json!({"SUMMARY": [{
        "MHS 5s": "12.5",
        "MHS av": "fast",
        "Accepted": "12",
        "Rejected": 3.75,
        "Hardware Errors": -1,
        "Stale": true,
        "Elapsed": null,
        "Best Share": "1e3",
        "Temperature": [70],
    }]});
    let report = MinerReport::assemble(&summary, None, None, None);
    assert_eq!(
        report.summary,
        Summary {
            hashrate: Some(12_500_000.0),
            hashrate_avg: None,
            accepted: Some(12),
            rejected: Some(3),
            hardware_errors: None,
            stale: None,
            elapsed: None,
            best_share: Some(1000),
            temperature: None,
        }
    );
    // No summary section at all: an empty summary.
    let report = MinerReport::assemble(&json!({"STATUS": []}), None, None, None);
    assert_eq!(report, MinerReport::default());
    // The current rate falls back to the shortest `<unit> <n>s` window.
    let summary = json!({"SUMMARY": {"KHS 20s": 3.0, "KHS 60s": 2.0, "KHS av": 1.0}});
    let report = MinerReport::assemble(&summary, None, None, None);
    assert_eq!(report.summary.hashrate, Some(3000.0));
    assert_eq!(report.summary.hashrate_avg, Some(1000.0));
}

#[test]
fn multi_report_parts_are_found_in_every_layout() {
    let joined: Value = serde_json::from_str(&cgminer_joined()).expect("json");
    let concatenated = parse_reply(QUIRKY_JOINED.as_bytes(), "SUMMARY").expect("repaired");
    let merged = json!({"STATUS": [{"STATUS": "S"}], "SUMMARY": [{}], "DEVS": [], "id": 1});
    for reply in [&joined, &concatenated, &merged] {
        for command in [Command::Summary, Command::Devs, Command::Pools] {
            let part = split_joined(reply, command);
            if reply == &merged && command == Command::Pools {
                assert!(part.is_none());
            } else {
                let part = part.expect("part found");
                assert!(part.get(command.section()).is_some(), "{command:?}");
            }
        }
    }
    let refused: Value = serde_json::from_str(CG_INVALID).expect("json");
    assert!(split_joined(&refused, Command::Summary).is_none());
}

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_input_never_panics() {
    const ALPHABET: &[u8] = b"{}[],:\"\\ \n\r\t\0|=abcdefinINFnaN-+.0123456789eSTATUS";
    let samples = [
        CG_SUMMARY,
        CG_DEVS,
        CG_POOLS,
        CG_TEXT_SUMMARY,
        CG_TEXT_POOLS,
        S19_STATS,
        WM_SUMMARY,
        WM_INVALID,
        QUIRKY_JOINED,
    ];
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let check = |bytes: &[u8]| {
        let _ = repair_json(bytes);
        let _ = parse_text(&String::from_utf8_lossy(bytes), "X");
        for command in [
            Command::Summary,
            Command::Devs,
            Command::Pools,
            Command::Stats,
        ] {
            if let Ok(value) = parse_reply(bytes, command.section()) {
                let _ = check_status(&value, command.name());
                let _ = split_joined(&value, command);
                let _ = MinerReport::assemble(&value, Some(&value), Some(&value), Some(&value));
            }
        }
    };
    for _ in 0..3000 {
        // Noise from a JSON-heavy alphabet, or from every byte value.
        let len = rng.below(300);
        let json_like = rng.next() & 1 == 0;
        let noise: Vec<u8> = (0..len)
            .map(|_| {
                if json_like {
                    ALPHABET[rng.below(ALPHABET.len())]
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        check(&noise);

        // A real reply with a few bytes replaced, inserted or removed, then cut anywhere.
        let mut mutated = samples[rng.below(samples.len())].as_bytes().to_vec();
        for _ in 0..=rng.below(8) {
            let at = rng.below(mutated.len());
            let byte = ALPHABET[rng.below(ALPHABET.len())];
            match rng.next() % 3 {
                0 => mutated[at] = byte,
                1 => mutated.insert(at, byte),
                _ => {
                    mutated.remove(at);
                }
            }
        }
        let cut = rng.below(mutated.len() + 1);
        check(&mutated[..cut]);
        check(&mutated);
    }
    // Deep nesting stays an error, not a stack overflow.
    let deep = "[".repeat(100_000);
    check(deep.as_bytes());
    let deep = "{\"a\":".repeat(50_000);
    check(deep.as_bytes());
}
