//! Step 3: the endorsement chain — the pinned ARK, the ASK or ASVK it signed (the evidence's own when it
//! carries one, else the shipped one), and the VCEK or VLEK that signed the report. An ASK/ARK bundle in the
//! evidence is trusted for nothing: its ARK must be byte-identical to the pinned one.

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use crate::appraisal::Checks;
use crate::snp::chain::{self, AmdCertError, Role};
use crate::snp::evidence::VekInput;
use crate::snp::product::Product;
use crate::snp::vek::VekKind;
use crate::snp::{SnpAppraise, SnpCheck};
use crate::x509::{describe, parse_one, rfc3339};

/// Most certificates accepted in an ASK/ARK bundle (AMD's has 2; trustee's ASK+ARK+ASVK files have 3).
const MAX_BUNDLE: usize = 4;

/// What the chain part established, for the checks after it.
pub(crate) struct ChainFacts {
    /// The product and key kind of the roots the VCEK/VLEK chains to, when it does.
    pub anchored: Option<(Product, VekKind)>,
    /// Earliest notAfter of the three certificates, when all were readable.
    pub valid_until: Option<OffsetDateTime>,
    /// The pinned ARK and the ASK/ASVK (DER) the chain went through, when both were readable.
    pub ark_and_intermediate: Option<(Vec<u8>, Vec<u8>)>,
}

/// Step 3: ARK, ASK/ASVK and VCEK/VLEK, each as its own check: the chain from the evidence's VCEK/VLEK to the
/// pinned ARK of the product whose ASK or ASVK issued it.
pub(crate) fn endorsement_chain(
    checks: &mut Checks<SnpCheck>,
    bundle: Option<&[u8]>,
    vek_input: &VekInput<'_>,
    ctx: &SnpAppraise<'_>,
) -> ChainFacts {
    let (vek, vek_ext, anchor) = (vek_input.cert.as_ref(), vek_input.extensions.as_ref(), vek_input.issuer);
    let none = ChainFacts { anchored: None, valid_until: None, ark_and_intermediate: None };
    let bundle_ders = bundle.map(parse_bundle);
    let bundle_error = match &bundle_ders {
        Some(Err(e)) => Some(format!("the evidence's ASK/ARK bundle: {e}")),
        _ => None,
    };
    let bundle_ders: &[Vec<u8>] = match &bundle_ders {
        Some(Ok(d)) => d,
        _ => &[],
    };
    let vek = match vek {
        Ok(v) => v,
        Err(e) => {
            match bundle_error {
                Some(b) => checks.fail(SnpCheck::Ark, b),
                None => checks.not_run(SnpCheck::Ark, "no readable VCEK/VLEK to choose the product's roots"),
            }
            checks.not_run(SnpCheck::Ask, "no readable VCEK/VLEK to choose the product's roots");
            checks.fail(SnpCheck::Vek, format!("VCEK/VLEK {e}"));
            return none;
        }
    };
    let Some((roots, slot)) = anchor else {
        match bundle_error {
            Some(b) => checks.fail(SnpCheck::Ark, b),
            None => checks.not_run(SnpCheck::Ark, "no ASK or ASVK of these roots issued the VCEK/VLEK"),
        }
        let products: Vec<&str> = ctx.roots.iter().map(|p| p.product().name()).collect();
        checks.fail(
            SnpCheck::Ask,
            format!(
                "the VCEK/VLEK is issued by {}, which is not the ASK or ASVK of any product in these roots ({})",
                vek.issuer(),
                products.join(", ")
            ),
        );
        checks.not_run(SnpCheck::Vek, "its issuer is not an ASK or ASVK of these roots");
        return none;
    };
    let product = roots.product();
    let kind = VekKind::issued_by(slot);
    let mut valid_until: Option<OffsetDateTime> = None;
    let mut track = |c: &X509Certificate<'_>| {
        let t = c.validity().not_after.to_datetime();
        valid_until = Some(valid_until.map_or(t, |v| v.min(t)));
    };

    // ARK: the pinned one; a bundle's ARK must be byte-identical.
    let ark = match parse_one(roots.ark()) {
        Ok(a) => a,
        Err(e) => {
            checks.fail(SnpCheck::Ark, format!("pinned {product} ARK does not parse: {e}"));
            checks.not_run(SnpCheck::Ask, "the pinned ARK is unreadable");
            checks.not_run(SnpCheck::Vek, "the pinned ARK is unreadable");
            return none;
        }
    };
    track(&ark);
    let foreign: Vec<String> = bundle_ders
        .iter()
        .filter_map(|d| parse_one(d).ok().filter(|c| c.issuer().as_raw() == c.subject().as_raw()).map(|c| (d, c)))
        .filter(|(d, _)| d.as_slice() != roots.ark())
        .map(|(d, c)| {
            let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d);
            format!("{} (SHA-256 {})", describe(&c), hex::encode(sha))
        })
        .collect();
    let ark_result = chain::check_profile(&ark, Role::Ark, ctx.at)
        .and_then(|()| chain::check_link(&ark, &ark, ctx.cache))
        .map_err(|e| format!("pinned {} {e}", describe(&ark)));
    let bundle_has_ark = bundle_ders.iter().any(|d| d.as_slice() == roots.ark());
    match (bundle_error, foreign.is_empty(), ark_result) {
        (Some(b), _, _) => checks.fail(SnpCheck::Ark, b),
        (None, false, _) => checks.fail(
            SnpCheck::Ark,
            format!(
                "the evidence's ASK/ARK bundle carries a root that is not the pinned {}: {}",
                describe(&ark),
                foreign.join(", ")
            ),
        ),
        (None, true, Err(e)) => checks.fail(SnpCheck::Ark, e),
        (None, true, Ok(())) => checks.pass(
            SnpCheck::Ark,
            format!(
                "pinned {} ({product}), self-signed, valid until {}{}",
                describe(&ark),
                rfc3339(ark.validity().not_after.to_datetime()),
                if bundle_has_ark { "; the evidence's ARK is identical" } else { "" }
            ),
        ),
    }

    // ASK/ASVK: the evidence's when it carries the VEK's issuer, else the shipped one.
    let from_bundle = bundle_ders.iter().find(|d| {
        parse_one(d)
            .is_ok_and(|c| c.subject().as_raw() == vek.issuer().as_raw() && c.issuer().as_raw() != c.subject().as_raw())
    });
    let (intermediate_der, source) = match (from_bundle, roots.intermediate(slot)) {
        (Some(d), _) => (d.as_slice(), "from the evidence"),
        (None, Some(d)) => (d, "shipped"),
        (None, None) => {
            checks.fail(SnpCheck::Ask, format!("these roots have no {product} {}", slot.name()));
            checks.not_run(SnpCheck::Vek, format!("no {product} {}", slot.name()));
            return none;
        }
    };
    let intermediate = match parse_one(intermediate_der) {
        Ok(c) => c,
        Err(e) => {
            checks.fail(SnpCheck::Ask, format!("{} {} does not parse: {e}", slot.name(), source));
            checks.not_run(SnpCheck::Vek, format!("the {} is unreadable", slot.name()));
            return none;
        }
    };
    track(&intermediate);
    match chain::check_profile(&intermediate, Role::Intermediate, ctx.at)
        .and_then(|()| chain::check_link(&intermediate, &ark, ctx.cache))
    {
        Ok(()) => checks.pass(
            SnpCheck::Ask,
            format!(
                "{} {} ({source}) signed by {}, valid until {}",
                slot.name(),
                describe(&intermediate),
                describe(&ark),
                rfc3339(intermediate.validity().not_after.to_datetime())
            ),
        ),
        Err(e) => checks.fail(SnpCheck::Ask, format!("{} {} ({source}) {e}", slot.name(), describe(&intermediate))),
    }

    // VCEK/VLEK.
    track(vek);
    let vek_result = chain::check_profile(vek, Role::EndorsementKey, ctx.at)
        .and_then(|()| chain::check_link(vek, &intermediate, ctx.cache))
        .map_err(|e: AmdCertError| e.to_string())
        .and_then(|()| match vek_ext {
            Some(Err(e)) => Err(e.to_string()),
            _ => Ok(()),
        });
    match vek_result {
        Ok(()) => checks.pass(
            SnpCheck::Vek,
            format!(
                "{} signed by {}, valid until {}",
                kind.name(),
                describe(&intermediate),
                rfc3339(vek.validity().not_after.to_datetime())
            ),
        ),
        Err(e) => checks.fail(SnpCheck::Vek, format!("{} {e}", kind.name())),
    }
    let ark_and_intermediate = Some((roots.ark().to_vec(), intermediate_der.to_vec()));
    ChainFacts { anchored: Some((product, kind)), valid_until, ark_and_intermediate }
}

/// The DER certificates of a PEM ASK/ARK bundle.
fn parse_bundle(pem_bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let blocks = pem::parse_many(pem_bytes).map_err(|e| format!("not PEM: {e}"))?;
    if blocks.is_empty() || blocks.len() > MAX_BUNDLE {
        return Err(format!("{} certificates, expected 1 to {MAX_BUNDLE}", blocks.len()));
    }
    let mut out = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.into_iter().enumerate() {
        if block.tag() != "CERTIFICATE" {
            return Err(format!("PEM block {i} is a {}, not a CERTIFICATE", block.tag()));
        }
        let der = block.into_contents();
        parse_one(&der).map_err(|e| format!("certificate {i} does not parse: {e}"))?;
        out.push(der);
    }
    Ok(out)
}
