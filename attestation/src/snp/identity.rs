//! Who the guest says it is: its product and signing key from the VCEK/VLEK and its roots, everything
//! else from the report's fields. Nothing here is trustworthy unless the verdict is affirming.

use serde::Serialize;

use super::evidence::VekInput;
use super::product::Product;
use super::report::{SnpReport, policy_bit};
use super::tcb::Tcb;
use super::vek::VekKind;

/// Who the guest says it is (from the report and VCEK/VLEK; trustworthy only if the verdict is affirming).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SnpIdentity {
    /// Product line, from the chain when it was anchored, else from the VCEK/VLEK's productName.
    pub product: Option<Product>,
    /// VCEK/VLEK productName, e.g. `Milan-B0`.
    pub product_name: Option<String>,
    /// Which key signed.
    pub signing_key: Option<VekKind>,
    /// VLEK cspID (the cloud provider).
    pub csp_id: Option<String>,
    /// Report version.
    pub report_version: Option<u32>,
    /// CHIP_ID, hex; `None` when masked.
    pub chip_id: Option<String>,
    /// True when CHIP_ID is masked (all zero).
    pub chip_id_masked: bool,
    /// REPORTED_TCB (the TCB the VCEK/VLEK certifies).
    pub reported_tcb: Option<Tcb>,
    /// CURRENT_TCB.
    pub current_tcb: Option<Tcb>,
    /// COMMITTED_TCB.
    pub committed_tcb: Option<Tcb>,
    /// LAUNCH_TCB.
    pub launch_tcb: Option<Tcb>,
    /// Current SNP firmware version, `major.minor.build`.
    pub firmware: Option<String>,
    /// MEASUREMENT, hex.
    pub measurement: Option<String>,
    /// HOST_DATA, hex.
    pub host_data: Option<String>,
    /// REPORT_DATA, hex.
    pub report_data: Option<String>,
    /// POLICY, raw.
    pub policy: Option<u64>,
    /// POLICY bit 19.
    pub debug_allowed: Option<bool>,
    /// POLICY bit 18.
    pub migration_agent_allowed: Option<bool>,
    /// POLICY bit 16.
    pub smt_allowed: Option<bool>,
    /// VMPL the report was requested from.
    pub vmpl: Option<u32>,
    /// GUEST_SVN.
    pub guest_svn: Option<u32>,
    /// FAMILY_ID, hex.
    pub family_id: Option<String>,
    /// IMAGE_ID, hex.
    pub image_id: Option<String>,
    /// ID_KEY_DIGEST, hex.
    pub id_key_digest: Option<String>,
    /// AUTHOR_KEY_DIGEST, hex.
    pub author_key_digest: Option<String>,
    /// REPORT_ID, hex.
    pub report_id: Option<String>,
    /// PLATFORM_INFO, raw.
    pub platform_info: Option<u64>,
}

impl SnpIdentity {
    /// What the VCEK/VLEK claims: the product (from the roots that issued it, else from its productName)
    /// and, for a VLEK, the cloud provider.
    pub(super) fn from_vek(vek: &VekInput<'_>) -> Self {
        let ext = vek.decoded();
        let product_name = ext.and_then(|e| e.product_name.clone());
        let name_product = product_name.as_deref().and_then(Product::from_product_name);
        Self {
            product: vek.issuer.map(|(p, _)| p.product()).or(name_product),
            product_name,
            csp_id: ext.and_then(|e| e.csp_id.clone()),
            ..Self::default()
        }
    }

    /// Adds what the report's fields claim.
    pub(super) fn read_report(&mut self, r: &SnpReport<'_>) {
        let f = r.fields();
        let policy = r.policy_bits();
        self.report_version = Some(f.version);
        self.chip_id_masked = r.chip_id_masked();
        self.chip_id = (!self.chip_id_masked).then(|| hex::encode(f.chip_id));
        self.reported_tcb = Some(f.reported_tcb.into());
        self.current_tcb = Some(f.current_tcb.into());
        self.committed_tcb = Some(f.committed_tcb.into());
        self.launch_tcb = Some(f.launch_tcb.into());
        self.firmware = Some(f.current.to_string());
        self.measurement = Some(hex::encode(f.measurement));
        self.host_data = Some(hex::encode(f.host_data));
        self.report_data = Some(hex::encode(f.report_data));
        self.policy = Some(policy);
        self.debug_allowed = Some(policy & policy_bit::DEBUG != 0);
        self.migration_agent_allowed = Some(policy & policy_bit::MIGRATE_MA != 0);
        self.smt_allowed = Some(policy & policy_bit::SMT != 0);
        self.vmpl = Some(f.vmpl);
        self.guest_svn = Some(f.guest_svn);
        self.family_id = Some(hex::encode(f.family_id));
        self.image_id = Some(hex::encode(f.image_id));
        self.id_key_digest = Some(hex::encode(f.id_key_digest));
        self.author_key_digest = Some(hex::encode(f.author_key_digest));
        self.report_id = Some(hex::encode(f.report_id));
        self.platform_info = Some(u64::from(f.plat_info));
    }
}
