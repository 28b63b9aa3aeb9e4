//! Header checks of a sync, run on the blocking pool: each header decodes, its target
//! is no easier than the spec allows, and its proof of work meets it.

use super::super::protocol::MAX_HEADER_BYTES;
use otedama_sharechain::{
    ChainSpec, DecodeError, PowHash, Reader, ShareHash, ShareHeader, Target, TargetError,
};

/// Why a peer's headers were refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeaderError {
    /// A header longer than any valid one.
    #[error("header {index} of {len} bytes")]
    TooLong {
        /// Its position in the response.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A header that does not decode.
    #[error("header {index}: {source}")]
    Undecodable {
        /// Its position in the response.
        index: usize,
        /// Why.
        source: DecodeError,
    },
    /// A share target that is not a valid compact target.
    #[error("header {index}: {source}")]
    Target {
        /// Its position in the response.
        index: usize,
        /// Why.
        source: TargetError,
    },
    /// A share target easier than the spec allows.
    #[error("header {index}: target easier than the spec allows")]
    TooEasy {
        /// Its position in the response.
        index: usize,
    },
    /// Proof of work that does not meet the header's own target.
    #[error("header {index}: proof of work above its target")]
    WorkAboveTarget {
        /// Its position in the response.
        index: usize,
    },
    /// The spec's own easiest target is invalid (a node bug, not the peer's).
    #[error("the chain spec's easiest share target: {0}")]
    Spec(#[source] TargetError),
    /// The check's task died.
    #[error("the header check did not finish")]
    Aborted,
}

/// Decodes headers and checks each one's proof of work against its own target (no
/// easier than the spec allows). Returns `(hash, prev)` pairs.
///
/// # Errors
/// [`HeaderError`] for the first header that fails.
pub(crate) fn check_headers(
    spec: &ChainSpec,
    headers: &[Vec<u8>],
) -> Result<Vec<(ShareHash, ShareHash)>, HeaderError> {
    let easiest = Target::from_compact(spec.max_share_target).map_err(HeaderError::Spec)?;
    let mut out: Vec<(ShareHash, ShareHash)> = Vec::with_capacity(headers.len());
    for (index, bytes) in headers.iter().enumerate() {
        if bytes.len() > MAX_HEADER_BYTES {
            return Err(HeaderError::TooLong {
                index,
                len: bytes.len(),
            });
        }
        let undecodable = |source| HeaderError::Undecodable { index, source };
        let mut r = Reader::new(bytes);
        let header = ShareHeader::decode(&mut r, spec.seal).map_err(undecodable)?;
        r.finish().map_err(undecodable)?;
        let target = Target::from_compact(header.info.share_target)
            .map_err(|source| HeaderError::Target { index, source })?;
        if target > easiest {
            return Err(HeaderError::TooEasy { index });
        }
        // A KawPow header's final hash comes cheaply from its claimed mix; the mix is
        // proven when the share itself is validated.
        let pow = match header.seal {
            None => spec.algorithm.hash(&header.block.to_bytes()),
            Some(_) => PowHash::from_bytes(header.block_hash().to_bytes()),
        };
        if !target.is_met_by(&pow) {
            return Err(HeaderError::WorkAboveTarget { index });
        }
        out.push((header.hash(), header.info.prev_share));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_and_oversized_headers_are_typed_errors() {
        let spec = ChainSpec::by_name("ltc-regtest").expect("spec");
        assert!(check_headers(spec, &[]).expect("empty is fine").is_empty());
        assert!(matches!(
            check_headers(spec, &[vec![0; MAX_HEADER_BYTES + 1]]),
            Err(HeaderError::TooLong { index: 0, .. })
        ));
        assert!(matches!(
            check_headers(spec, &[vec![1, 2, 3]]),
            Err(HeaderError::Undecodable { index: 0, .. })
        ));
    }
}
