//! Stratum V2: a client that does the Noise handshake, opens standard and extended
//! channels, rebuilds headers from the jobs as SV2 firmware and proxies do, and submits
//! shares; the server's answers and the shares the node gets are checked.

use crate::harness::{Harness, WAIT, address};
use otedama_sharechain::{PowAlgorithm, Target, sha256d, sha256d_pair};
use otedama_stratum::StratumConfig;
use otedama_stratum::sv2::Sv2Config;
use otedama_stratum::sv2::codec::{
    ExtendedJob, Message, OpenChannel, SetupConnection, SubmitShares, target_from_le,
};
use otedama_stratum::sv2::noise::{self, AuthorityKey, Transport, TransportError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// A server with SV2 on a free loopback port, signed by `key`.
async fn server(key: &AuthorityKey) -> Harness {
    let key = key.clone();
    Harness::with(
        move |c: &mut StratumConfig| {
            c.sv2 = Some(Sv2Config {
                listen: "127.0.0.1:0".parse().expect("valid"),
                authority: key,
                cert_validity: Duration::from_secs(3600),
            });
        },
        16,
        true,
    )
    .await
}

struct Sv2Client {
    t: Transport,
}

impl Sv2Client {
    async fn connect(
        addr: SocketAddr,
        authority: Option<[u8; 32]>,
    ) -> Result<Self, TransportError> {
        let stream = TcpStream::connect(addr).await?;
        let t = Transport::connect(stream, authority, WAIT, 1 << 20, 16).await?;
        Ok(Self { t })
    }

    async fn send(&mut self, m: &Message) {
        self.t.send(m, WAIT).await.expect("send");
    }

    async fn recv(&mut self) -> Message {
        timeout(WAIT, self.t.recv())
            .await
            .expect("a message in time")
            .expect("the connection open")
            .expect("a valid message")
    }

    async fn setup(&mut self, flags: u32) -> Message {
        self.send(&Message::SetupConnection(SetupConnection {
            protocol: 0,
            min_version: 2,
            max_version: 2,
            flags,
            endpoint_host: "127.0.0.1".into(),
            endpoint_port: 3336,
            vendor: "otedama-test".into(),
            hardware_version: String::new(),
            firmware: String::new(),
            device_id: String::new(),
        }))
        .await;
        self.recv().await
    }
}

fn open(identity: &str) -> OpenChannel {
    OpenChannel {
        request_id: 7,
        user_identity: identity.into(),
        nominal_hash_rate: 1000.0,
        max_target: [0xff; 32],
    }
}

/// The header of an extended job with `extranonce` (prefix and rolled part).
fn header(
    job: &ExtendedJob,
    prev: &[u8; 32],
    nbits: u32,
    extranonce: &[u8],
    ntime: u32,
    nonce: u32,
) -> [u8; 80] {
    let coinbase = [
        &job.coinbase_tx_prefix[..],
        extranonce,
        &job.coinbase_tx_suffix[..],
    ]
    .concat();
    let root = job
        .merkle_path
        .iter()
        .fold(sha256d(&coinbase), |acc, b| sha256d_pair(&acc, b));
    assemble(job.version, prev, &root, ntime, nbits, nonce)
}

fn assemble(
    version: u32,
    prev: &[u8; 32],
    root: &[u8; 32],
    ntime: u32,
    nbits: u32,
    nonce: u32,
) -> [u8; 80] {
    let mut h = [0u8; 80];
    h[0..4].copy_from_slice(&version.to_le_bytes());
    h[4..36].copy_from_slice(prev);
    h[36..68].copy_from_slice(root);
    h[68..72].copy_from_slice(&ntime.to_le_bytes());
    h[72..76].copy_from_slice(&nbits.to_le_bytes());
    h[76..80].copy_from_slice(&nonce.to_le_bytes());
    h
}

/// The first nonce from `start` whose header meets `t` (and whether it is below `max`).
fn grind(t: Target, start: u32, header_for: impl Fn(u32) -> [u8; 80]) -> u32 {
    (start..start + 1_000_000)
        .find(|&n| t.is_met_by(&PowAlgorithm::Sha256d.hash(&header_for(n))))
        .expect("a nonce within a million tries")
}

#[tokio::test]
async fn an_extended_channel_mines_shares_that_reach_the_node() {
    let key = AuthorityKey::generate().expect("randomness");
    let mut h = server(&key).await;
    let mut c = Sv2Client::connect(h.sv2.expect("sv2 on"), Some(key.public()))
        .await
        .expect("handshake");
    assert_eq!(
        c.setup(1 << 2).await,
        Message::SetupConnectionSuccess {
            used_version: 2,
            flags: 0
        }
    );
    let miner = address(3);
    c.send(&Message::OpenExtendedMiningChannel {
        open: open(&format!("{miner}.rig1")),
        min_extranonce_size: 2,
    })
    .await;
    let Message::OpenExtendedMiningChannelSuccess {
        request_id,
        channel_id,
        target: tgt,
        extranonce_size,
        extranonce_prefix,
        ..
    } = c.recv().await
    else {
        panic!("channel not opened");
    };
    assert_eq!(request_id, 7);
    assert_eq!(
        (extranonce_prefix.len(), extranonce_size),
        (4, 4),
        "8 bytes in all"
    );
    let Message::NewExtendedMiningJob(job) = c.recv().await else {
        panic!("no job");
    };
    assert_eq!(job.min_ntime, None, "the first job waits for its prev hash");
    let Message::SetNewPrevHash {
        job_id,
        prev_hash,
        min_ntime,
        nbits,
        ..
    } = c.recv().await
    else {
        panic!("no prev hash");
    };
    assert_eq!(job_id, job.job_id);
    assert_eq!(prev_hash, *h.source.block().prev_block.as_bytes());

    let rolled = [0xaa, 0xbb, 0xcc, 0xdd];
    let full = [&extranonce_prefix[..], &rolled].concat();
    let t = target_from_le(&tgt);
    let version = job.version | 0x0000_2000;
    let nonce = grind(t, 0, |n| {
        let mut hd = header(&job, &prev_hash, nbits, &full, min_ntime, n);
        hd[0..4].copy_from_slice(&version.to_le_bytes());
        hd
    });
    let submit = SubmitShares {
        channel_id,
        sequence_number: 1,
        job_id: job.job_id,
        nonce,
        ntime: min_ntime,
        version,
    };
    c.send(&Message::SubmitSharesExtended {
        submit,
        extranonce: rolled.to_vec(),
    })
    .await;
    match c.recv().await {
        Message::SubmitSharesSuccess {
            last_sequence_number: 1,
            new_submits_accepted_count: 1,
            ..
        } => {}
        other => panic!("share not accepted: {other:?}"),
    }
    // The regtest share target is easy: the node gets it, paid to the channel's miner.
    let sub = h.next_submission().await;
    assert_eq!(sub.worker, format!("{miner}.rig1"));
    assert_eq!(sub.extranonce, full);
    assert_eq!(sub.header.nonce, nonce);
    assert_eq!(sub.header.version as u32, version);
    let mut expected_cb = job.coinbase_tx_prefix.clone();
    expected_cb.extend_from_slice(&full);
    expected_cb.extend_from_slice(&job.coinbase_tx_suffix);
    assert_eq!(sub.coinbase.stratum_parts().0, &job.coinbase_tx_prefix[..]);
    assert_eq!(sha256d(&expected_cb), *sub.coinbase.txid().as_bytes());

    // The same share again is a duplicate; an unknown job is refused.
    c.send(&Message::SubmitSharesExtended {
        submit: SubmitShares {
            sequence_number: 2,
            ..submit
        },
        extranonce: rolled.to_vec(),
    })
    .await;
    assert_error(c.recv().await, 2, "duplicate-share");
    c.send(&Message::SubmitSharesExtended {
        submit: SubmitShares {
            sequence_number: 3,
            job_id: 999,
            ..submit
        },
        extranonce: rolled.to_vec(),
    })
    .await;
    assert_error(c.recv().await, 3, "invalid-job-id");
    // Wrong extranonce length.
    c.send(&Message::SubmitSharesExtended {
        submit: SubmitShares {
            sequence_number: 4,
            ..submit
        },
        extranonce: vec![1, 2],
    })
    .await;
    assert_error(c.recv().await, 4, "invalid-share");

    // A new share tip: a new future job and prev hash; the old job is stale.
    let source = h.source.clone();
    h.publish(source, true);
    let Message::NewExtendedMiningJob(next) = c.recv().await else {
        panic!("no job for the new work");
    };
    assert!(
        matches!(c.recv().await, Message::SetNewPrevHash { job_id, .. } if job_id == next.job_id)
    );
    c.send(&Message::SubmitSharesExtended {
        submit: SubmitShares {
            sequence_number: 5,
            nonce: nonce.wrapping_add(1),
            ..submit
        },
        extranonce: rolled.to_vec(),
    })
    .await;
    assert_error(c.recv().await, 5, "stale-share");
    let stats = h.stats.snapshot();
    assert_eq!(
        (
            stats.accepted,
            stats.rejected_duplicate,
            stats.rejected_stale
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.sv2_handshakes, 1);
}

fn assert_error(m: Message, seq: u32, code: &str) {
    match m {
        Message::SubmitSharesError {
            sequence_number,
            error_code,
            ..
        } => assert_eq!((sequence_number, error_code.as_str()), (seq, code)),
        other => panic!("expected {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_standard_channel_gets_merkle_roots_and_its_shares_count() {
    let key = AuthorityKey::generate().expect("randomness");
    let mut h = server(&key).await;
    let mut c = Sv2Client::connect(h.sv2.expect("sv2 on"), Some(key.public()))
        .await
        .expect("handshake");
    c.setup(1).await;
    let miner = address(4);
    c.send(&Message::OpenStandardMiningChannel(open(&miner)))
        .await;
    let Message::OpenStandardMiningChannelSuccess {
        channel_id,
        target: tgt,
        extranonce_prefix,
        ..
    } = c.recv().await
    else {
        panic!("channel not opened");
    };
    assert_eq!(extranonce_prefix.len(), 8, "the whole extranonce");
    let Message::NewMiningJob {
        job_id,
        version,
        merkle_root,
        ..
    } = c.recv().await
    else {
        panic!("no job");
    };
    let Message::SetNewPrevHash {
        prev_hash,
        min_ntime,
        nbits,
        ..
    } = c.recv().await
    else {
        panic!("no prev hash");
    };
    // The merkle root is the one of the template with that extranonce.
    let template = h
        .source
        .template(&otedama_sharechain::test_utils::script(4));
    let cb = template.coinbase(&extranonce_prefix).expect("coinbase");
    assert_eq!(
        template
            .header(&cb, min_ntime, 0, version as i32)
            .merkle_root,
        merkle_root
    );
    let t = target_from_le(&tgt);
    let nonce = grind(t, 0, |n| {
        assemble(version, &prev_hash, &merkle_root, min_ntime, nbits, n)
    });
    c.send(&Message::SubmitSharesStandard(SubmitShares {
        channel_id,
        sequence_number: 9,
        job_id,
        nonce,
        ntime: min_ntime,
        version,
    }))
    .await;
    assert!(matches!(
        c.recv().await,
        Message::SubmitSharesSuccess {
            last_sequence_number: 9,
            ..
        }
    ));
    assert_eq!(h.next_submission().await.extranonce, extranonce_prefix);
    // A header that misses the target.
    let bad = (nonce + 1..nonce + 100_000).find(|&n| {
        !t.is_met_by(&PowAlgorithm::Sha256d.hash(&assemble(
            version,
            &prev_hash,
            &merkle_root,
            min_ntime,
            nbits,
            n,
        )))
    });
    if let Some(bad) = bad {
        c.send(&Message::SubmitSharesStandard(SubmitShares {
            channel_id,
            sequence_number: 10,
            job_id,
            nonce: bad,
            ntime: min_ntime,
            version,
        }))
        .await;
        assert_error(c.recv().await, 10, "difficulty-too-low");
    }
    // An unknown channel.
    c.send(&Message::SubmitSharesStandard(SubmitShares {
        channel_id: channel_id + 5,
        sequence_number: 11,
        job_id,
        nonce,
        ntime: min_ntime,
        version,
    }))
    .await;
    assert_error(c.recv().await, 11, "invalid-channel-id");
}

#[tokio::test]
async fn a_wrong_authority_key_fails_the_handshake() {
    let key = AuthorityKey::generate().expect("randomness");
    let other = AuthorityKey::generate().expect("randomness");
    let h = server(&key).await;
    let addr = h.sv2.expect("sv2 on");
    let err = Sv2Client::connect(addr, Some(other.public())).await.err();
    assert!(matches!(err, Some(TransportError::Handshake(_))), "{err:?}");
    // The pinned key works, and the failure was counted on neither side as a session.
    assert!(Sv2Client::connect(addr, Some(key.public())).await.is_ok());
}

#[tokio::test]
async fn setup_refuses_work_selection_and_other_protocols() {
    let key = AuthorityKey::generate().expect("randomness");
    let h = server(&key).await;
    let addr = h.sv2.expect("sv2 on");
    let mut c = Sv2Client::connect(addr, Some(key.public()))
        .await
        .expect("handshake");
    assert_eq!(
        c.setup(1 << 1).await,
        Message::SetupConnectionError {
            flags: 1 << 1,
            error_code: "unsupported-feature-flags".into()
        }
    );
    // A channel for an address the chain does not pay is refused by name.
    let mut c = Sv2Client::connect(addr, Some(key.public()))
        .await
        .expect("handshake");
    c.setup(0).await;
    c.send(&Message::OpenStandardMiningChannel(open("not-an-address")))
        .await;
    assert_eq!(
        c.recv().await,
        Message::OpenMiningChannelError {
            request_id: 7,
            error_code: "unknown-user".into()
        }
    );
}

#[test]
fn authority_keys_use_sri_encoding() {
    // SRI's well-known test authority key.
    let k = noise::decode_public("9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72")
        .expect("decodes");
    assert_eq!(
        noise::encode_public(&k),
        "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
    );
    let mut bad = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72".to_string();
    bad.replace_range(5..6, "X");
    assert!(noise::decode_public(&bad).is_err());
}
