//! Submissions: every verdict, and shares that the sharechain accepts.

use crate::harness::{Harness, JobView, Miner, TestSource, address, reject_line, spec, true_line};
use otedama_sharechain::test_utils::script;
use otedama_sharechain::{BlockHeader, Target, ValidationContext, validate_share};
use serde_json::json;
use std::sync::atomic::Ordering;

const EN2: [u8; 4] = [0, 0, 0, 7];

#[tokio::test]
async fn valid_share_is_accepted_and_validates_on_the_chain() {
    let mut h = Harness::start().await;
    let mut m = h.miner().await;
    let (nonce, header) = m.grind(&EN2, 0, true);
    let job_id = m.job.id.clone();
    let ntime = m.job.ntime;
    let (id, line) = m.submit(&job_id, &EN2, ntime, nonce).await;
    assert_eq!(line, true_line(id));

    let sub = h.next_submission().await;
    assert_eq!(sub.worker, m.username);
    assert_eq!(sub.payout, script(1));
    assert_eq!(sub.extranonce, [&m.en1[..], &EN2[..]].concat());
    // The server's header is the one the miner built from the notify.
    assert_eq!(sub.header, BlockHeader::from_bytes(&header));
    assert_eq!(sub.pow, spec().algorithm.hash(&header));
    let share_target = Target::from_compact(sub.template.info.share_target).expect("valid");
    assert!(share_target.is_met_by(&sub.pow));

    let share = sub
        .template
        .share(sub.header, &sub.extranonce, &sub.coinbase);
    let mut chain = h.source.chain.lock().expect("not poisoned");
    let ctx = ValidationContext {
        now: u64::from(ntime),
        parent_block_known: &|_| true,
    };
    let meta =
        validate_share(&mut chain, &share, share.to_bytes().len(), &ctx).expect("valid share");
    assert_eq!(meta.height, 0);
    drop(chain);

    let s = h.stats.snapshot();
    assert_eq!(
        (s.accepted, s.shares_forwarded, s.shares_dropped),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn low_difficulty_share_is_rejected() {
    let mut h = Harness::start().await;
    let mut m = h.miner().await;
    let (nonce, _) = m.grind(&EN2, 0, false);
    let (job_id, ntime) = (m.job.id.clone(), m.job.ntime);
    let (id, line) = m.submit(&job_id, &EN2, ntime, nonce).await;
    assert_eq!(line, reject_line(id, 23, "Low difficulty share"));
    assert_eq!(h.stats.rejected_low_difficulty.load(Ordering::Relaxed), 1);
    assert!(h.submissions.try_recv().is_err(), "nothing forwarded");
}

#[tokio::test]
async fn duplicate_share_is_rejected() {
    let mut h = Harness::start().await;
    let mut m = h.miner().await;
    let (nonce, _) = m.grind(&EN2, 0, true);
    let (job_id, ntime) = (m.job.id.clone(), m.job.ntime);
    let (id, line) = m.submit(&job_id, &EN2, ntime, nonce).await;
    assert_eq!(line, true_line(id));
    let (id, line) = m.submit(&job_id, &EN2, ntime, nonce).await;
    assert_eq!(line, reject_line(id, 22, "Duplicate share"));
    // Another extranonce2 with the same nonce is new work.
    let en2 = [0, 0, 0, 8];
    let (nonce2, _) = m.grind(&en2, nonce, true);
    let (id, line) = m.submit(&job_id, &en2, ntime, nonce2).await;
    assert_eq!(line, true_line(id));
    h.next_submission().await;
    h.next_submission().await;
    assert_eq!(h.stats.rejected_duplicate.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn clean_work_makes_old_jobs_stale() {
    let mut h = Harness::start().await;
    let mut m = h.miner().await;
    let first = m.job.clone();

    // New work that keeps old jobs valid.
    let source = TestSource::new(101);
    h.publish(source, false);
    let second = JobView::parse(&m.client.notification("mining.notify").await);
    assert!(!second.clean);
    assert_ne!(second.id, first.id);
    assert_ne!(second.prevhash, first.prevhash);
    let (nonce, _) = m.grind(&EN2, 0, true);
    let (id, line) = m.submit(&first.id, &EN2, first.ntime, nonce).await;
    assert_eq!(line, true_line(id), "non-clean work keeps the old job");

    // Clean work: both older jobs are gone.
    h.publish(TestSource::new(102), true);
    let third = JobView::parse(&m.client.notification("mining.notify").await);
    assert!(third.clean);
    for old in [&first, &second] {
        let (id, line) = m.submit(&old.id, &[0, 0, 1, 0], old.ntime, 1).await;
        assert_eq!(line, reject_line(id, 21, "Job not found"));
    }
    let (id, line) = m.submit("not-a-job", &EN2, first.ntime, 1).await;
    assert_eq!(line, reject_line(id, 21, "Job not found"));
    assert_eq!(h.stats.rejected_stale.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn unauthorized_worker_is_rejected() {
    let h = Harness::start().await;
    let mut m = h.miner().await;
    m.username = format!("{}.rig2", address(1));
    let (job_id, ntime) = (m.job.id.clone(), m.job.ntime);
    let (id, line) = m.submit(&job_id, &EN2, ntime, 1).await;
    assert_eq!(line, reject_line(id, 24, "Unauthorized worker"));
}

#[tokio::test]
async fn submit_before_subscribe_is_rejected() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    let params = json!([address(1), "1", "00000000", "6553f100", "00000000"]);
    let (id, line) = c.call("mining.submit", params.clone()).await;
    assert_eq!(line, reject_line(id, 25, "Not subscribed"));
    // Subscribed but not authorized.
    c.call("mining.subscribe", json!([])).await;
    let (id, line) = c.call("mining.submit", params).await;
    assert_eq!(line, reject_line(id, 24, "Unauthorized worker"));
    assert_eq!(h.stats.rejected_other.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn bad_extranonce2_and_ntime_are_rejected() {
    let h = Harness::start().await;
    let mut m = h.miner().await;
    let (job_id, ntime) = (m.job.id.clone(), m.job.ntime);
    let (id, line) = m.submit(&job_id, &[0, 0, 7], ntime, 1).await;
    assert_eq!(line, reject_line(id, 20, "Incorrect size of extranonce2"));
    // The template's mintime is 1_600_000_000 and curtime 1_700_000_000.
    for bad in [1_599_999_999, 1_700_007_201] {
        let (id, line) = m.submit(&job_id, &EN2, bad, 1).await;
        assert_eq!(line, reject_line(id, 20, "ntime out of range"));
    }
    // Both ends of the window are accepted (or judged on PoW).
    for good in [1_600_000_000u32, 1_700_007_200] {
        let target = crate::harness::target_of(m.difficulty);
        let nonce = (0..)
            .find(|&n| {
                let h = m.job.header(&m.en1, &EN2, good, n, m.job.version);
                target.is_met_by(&spec().algorithm.hash(&h))
            })
            .expect("a nonce");
        let (id, line) = m.submit(&job_id, &EN2, good, nonce).await;
        assert_eq!(line, true_line(id));
    }
}

#[tokio::test]
async fn rolled_version_bits_are_applied_within_the_mask() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    let (_, line) = c
        .call(
            "mining.configure",
            json!([["version-rolling"], {"version-rolling.mask": "ffffffff"}]),
        )
        .await;
    assert!(
        line.contains(r#""version-rolling.mask":"1fffe000""#),
        "{line}"
    );
    let mut m = Miner::start(c, &address(3)).await;
    let target = crate::harness::target_of(m.difficulty);
    // 0x00002000 is inside the mask.
    let rolled = 0x2000_2000u32;
    let nonce = (0..)
        .find(|&n| {
            let hd = m.job.header(&m.en1, &EN2, m.job.ntime, n, rolled);
            target.is_met_by(&spec().algorithm.hash(&hd))
        })
        .expect("a nonce");
    let params = json!([
        m.username,
        m.job.id,
        hex::encode(EN2),
        format!("{:08x}", m.job.ntime),
        format!("{nonce:08x}"),
        "80002000"
    ]);
    // Bits outside the negotiated mask are refused (BIP310: bits & ~mask must be 0).
    let (id, line) = m.client.call("mining.submit", params.clone()).await;
    assert_eq!(line, reject_line(id, 20, "Invalid version bits"));
    let mut inside = params;
    inside[5] = json!("00002000");
    let (id, line) = m.client.call("mining.submit", inside.clone()).await;
    assert_eq!(line, true_line(id));
    let sub = h.next_submission().await;
    assert_eq!(sub.header.version as u32, rolled);
    let (id, line) = m.client.call("mining.submit", inside).await;
    assert_eq!(line, reject_line(id, 22, "Duplicate share"));
}

#[tokio::test]
async fn full_submission_channel_never_blocks_the_session() {
    let mut h = Harness::with(|_| {}, 1, true).await;
    let mut m = h.miner().await;
    let (job_id, ntime) = (m.job.id.clone(), m.job.ntime);
    let mut nonce = 0;
    for _ in 0..3 {
        let (n, _) = m.grind(&EN2, nonce, true);
        let (id, line) = m.submit(&job_id, &EN2, ntime, n).await;
        assert_eq!(line, true_line(id));
        nonce = n + 1;
    }
    let s = h.stats.snapshot();
    assert_eq!(
        (s.accepted, s.shares_forwarded, s.shares_dropped),
        (3, 1, 2)
    );
    h.next_submission().await;
}

#[tokio::test]
async fn easier_start_difficulty_accepts_non_shares_without_forwarding() {
    let mut h = Harness::with(
        |c| {
            c.start_difficulty = Some(1e-12);
            c.min_difficulty = 1e-12;
        },
        16,
        true,
    )
    .await;
    let mut m = h.miner().await;
    assert_eq!(m.difficulty, 1e-12);
    // A nonce that misses the share target still meets the (maximal) session target.
    let share_target =
        Target::from_compact(h.source.template(&script(1)).info.share_target).expect("valid");
    let job = m.job.clone();
    let nonce = (0..)
        .find(|&n| {
            let hd = job.header(&m.en1, &EN2, job.ntime, n, job.version);
            !share_target.is_met_by(&spec().algorithm.hash(&hd))
        })
        .expect("a nonce");
    let (id, line) = m.submit(&job.id, &EN2, job.ntime, nonce).await;
    assert_eq!(line, true_line(id));
    let s = h.stats.snapshot();
    assert_eq!((s.accepted, s.shares_forwarded), (1, 0));
    assert!(h.submissions.try_recv().is_err());
}

/// Litecoin-style chains hash with scrypt (on the blocking pool) and count Stratum
/// difficulty in units 65 536 times smaller.
#[tokio::test]
async fn scrypt_chain_share_is_accepted_and_validates() {
    let ltc = otedama_sharechain::ChainSpec::by_name("ltc-regtest").expect("built in");
    let mut h = Harness::on(ltc, |_| {}, 16, true).await;
    let mut m = h.miner().await;
    let share_target =
        Target::from_compact(h.source.template(&script(1)).info.share_target).expect("valid");
    let expected =
        otedama_sharechain::Difficulty::from_stratum_target(share_target, ltc.algorithm).get();
    assert_eq!(m.difficulty, expected);
    let (low, _) = m.grind(&EN2, 0, false);
    let (job_id, ntime) = (m.job.id.clone(), m.job.ntime);
    let (id, line) = m.submit(&job_id, &EN2, ntime, low).await;
    assert_eq!(line, reject_line(id, 23, "Low difficulty share"));
    let (nonce, header) = m.grind(&EN2, 0, true);
    let (id, line) = m.submit(&job_id, &EN2, ntime, nonce).await;
    assert_eq!(line, true_line(id));
    let sub = h.next_submission().await;
    assert_eq!(sub.header, BlockHeader::from_bytes(&header));
    let share = sub
        .template
        .share(sub.header, &sub.extranonce, &sub.coinbase);
    let mut chain = h.source.chain.lock().expect("not poisoned");
    let ctx = ValidationContext {
        now: u64::from(ntime),
        parent_block_known: &|_| true,
    };
    validate_share(&mut chain, &share, share.to_bytes().len(), &ctx).expect("valid share");
}
