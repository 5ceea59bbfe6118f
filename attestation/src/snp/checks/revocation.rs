//! Step 3, last part: the ASK/ASVK the chain went through is not on AMD's CRL (issued and signed by the
//! pinned ARK, current at the appraisal time). Without a CRL the check is skipped, or fails when the policy
//! requires revocation to be established.

use crate::appraisal::Checks;
use crate::snp::crl::check_not_revoked;
use crate::snp::{SnpAppraise, SnpCheck, SnpRevocation};
use crate::x509::parse_one;

/// Records [`SnpCheck::AskRevocation`] for the chain's ARK and ASK/ASVK (`None` when the chain broke first).
pub(crate) fn ask_revocation(
    checks: &mut Checks<SnpCheck>,
    ark_and_intermediate: Option<&(Vec<u8>, Vec<u8>)>,
    ctx: &SnpAppraise<'_>,
) {
    let check = SnpCheck::AskRevocation;
    let (der, tolerance) = match ctx.revocation {
        SnpRevocation::NotChecked { required: false } => {
            checks.skip(check, "AMD's CRL not checked (no CRL given): the ASK/ASVK's revocation is unknown");
            return;
        }
        SnpRevocation::NotChecked { required: true } => {
            checks.fail(check, "AMD's CRL was not checked but the policy requires revocation (ocsp.require)");
            return;
        }
        SnpRevocation::Unavailable(why) => {
            checks.fail(check, format!("AMD's CRL is unavailable: {why}"));
            return;
        }
        SnpRevocation::Crl { der, tolerance } => (der, tolerance),
    };
    let Some((ark, intermediate)) = ark_and_intermediate else {
        checks.not_run(check, "the chain to the ARK did not hold");
        return;
    };
    let (Ok(ark), Ok(intermediate)) = (parse_one(ark), parse_one(intermediate)) else {
        checks.not_run(check, "the ARK or ASK/ASVK is unreadable");
        return;
    };
    match check_not_revoked(der, &ark, &intermediate, ctx.at, tolerance) {
        Ok(r) => checks.pass(
            check,
            format!(
                "not on the ARK's CRL ({} listed; thisUpdate {}, nextUpdate {})",
                r.listed, r.this_update, r.next_update
            ),
        ),
        Err(e) => checks.fail(check, e.to_string()),
    }
}
