//! Steps 2 and 3: the PCK chain in the quote validates to Intel's pinned root; nothing in it (nor the TCB
//! Signing certificate) is revoked.

use time::OffsetDateTime;

use super::needs;
use crate::appraisal::Checks;
use crate::tdx::pck::PckExtension;
use crate::tdx::quote::TdxQuote;
use crate::tdx::{TdxAppraise, TdxCheck};
use crate::tdx::{crl, inspect};
use crate::x509::{CertChain, ChainRule, parse_one, validate_cached};

/// A PCK whose chain validated.
pub(crate) struct Pck {
    /// PCK, PCK CA, root; DER.
    pub chain: CertChain,
    /// The PCK key's uncompressed point.
    pub point: Vec<u8>,
    /// The SGX extension.
    pub ext: PckExtension,
    /// The chain's earliest notAfter.
    pub valid_until: OffsetDateTime,
}

/// Step 2: the PCK chain (leaf, PCK CA, root) validates to the pinned root at the verification time, the
/// PCK key is P-256, and its SGX extension decodes.
pub(crate) fn pck_chain(
    checks: &mut Checks<TdxCheck>,
    quote: Option<&TdxQuote<'_>>,
    ctx: &TdxAppraise<'_>,
) -> Option<Pck> {
    let q = needs(checks, quote, &[TdxCheck::PckChain], "the quote did not parse")?;
    let fail = |checks: &mut Checks<TdxCheck>, why: String| {
        checks.fail(TdxCheck::PckChain, why);
        None
    };
    let chain = match inspect::chain(ctx.cache, q.pck_chain_pem) {
        Ok(c) => c,
        Err(e) => return fail(checks, format!("the PCK chain in the quote: {e}")),
    };
    let validated = match validate_cached(&chain, &ctx.roots.root, ctx.at, ChainRule::ExactWithAnchor(3), ctx.cache) {
        Ok(v) => v,
        Err(e) => return fail(checks, format!("the PCK chain: {e}")),
    };
    let Ok(leaf) = parse_one(&chain.ders()[0]) else { return fail(checks, "the PCK does not parse".into()) };
    if validated.leaf_key.curve() != crate::crypto::Curve::P256 {
        return fail(checks, "the PCK key is not a P-256 key".into());
    }
    let ext = match PckExtension::read(&leaf) {
        Ok(e) => e,
        Err(e) => return fail(checks, e.to_string()),
    };
    checks.pass(
        TdxCheck::PckChain,
        format!("{}; FMSPC {}", validated.subjects.join(" → "), hex::encode_upper(ext.fmspc)),
    );
    Some(Pck {
        point: leaf.public_key().subject_public_key.data.to_vec(),
        chain,
        ext,
        valid_until: validated.valid_until,
    })
}

/// Step 3: the root CA CRL lists neither the PCK CA nor the collateral signers (TCB info, QE identity), the PCK CRL (issued
/// by the PCK CA of the quote's chain) does not list the PCK, and both are current.
pub(crate) fn revocation(
    checks: &mut Checks<TdxCheck>,
    pck: Option<&Pck>,
    signers: [Option<&CertChain>; 2],
    ctx: &TdxAppraise<'_>,
) -> Option<OffsetDateTime> {
    let pck = needs(checks, pck, &[TdxCheck::Revocation], "the PCK chain did not validate")?;
    let collateral = match ctx.collateral {
        Ok(c) => c,
        Err(why) => {
            checks.fail(TdxCheck::Revocation, format!("no collateral: {why}"));
            return None;
        }
    };
    let parsed: Result<Vec<_>, _> = pck.chain.ders().iter().map(|d| parse_one(d)).collect();
    let Ok(certs) = parsed else {
        checks.fail(TdxCheck::Revocation, "the PCK chain does not parse");
        return None;
    };
    // The collateral signers (TCB info, QE identity) are issued by the root too: the root CA CRL must
    // clear each of them, not only the PCK CA.
    let signers: Vec<_> =
        signers.iter().flatten().filter_map(|c| c.ders().first()).filter_map(|d| parse_one(d).ok()).collect();
    let mut root_subjects = vec![&certs[1]];
    root_subjects.extend(signers.iter());
    let root = crl::judge("root CA CRL", &collateral.root_ca_crl, &certs[2], &root_subjects, ctx.at, ctx.cache);
    let pck_crl = crl::judge("PCK CRL", &collateral.pck_crl, &certs[1], &[&certs[0]], ctx.at, ctx.cache);
    match (root, pck_crl) {
        (Ok(r), Ok(p)) => {
            checks.pass(
                TdxCheck::Revocation,
                format!(
                    "not revoked: root CA CRL ({} listed){}, PCK CRL ({} listed)",
                    r.listed,
                    match signers.len() {
                        0 => "",
                        _ => " also clears the collateral signing certificate(s)",
                    },
                    p.listed
                ),
            );
            Some(r.next_update.min(p.next_update))
        }
        (Err(e), _) | (_, Err(e)) => {
            checks.fail(TdxCheck::Revocation, e);
            None
        }
    }
}
