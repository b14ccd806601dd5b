//! Discs as Redis keeps them: JSON of the domain's [`DiscRecord`], read
//! back through [`Disc::from_record`], so a value that breaks a rule
//! (another program's key, an older layout) is a miss, not a disc.

use recordshop_domain::disc::{Disc, DiscRecord};

pub(crate) fn encode(discs: &[Disc]) -> Option<Vec<u8>> {
    let records: Vec<DiscRecord> = discs.iter().map(DiscRecord::from).collect();
    serde_json::to_vec(&records).ok()
}

pub(crate) fn decode(bytes: &[u8]) -> Option<Vec<Disc>> {
    let records: Vec<DiscRecord> = serde_json::from_slice(bytes).ok()?;
    records
        .into_iter()
        .map(|record| Disc::from_record(record).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use recordshop_domain::testing::sample_disc;

    #[test]
    fn a_disc_comes_back_as_it_went() {
        let disc = sample_disc(5);
        let encoded = encode(std::slice::from_ref(&disc));
        assert_eq!(encoded.as_deref().and_then(decode), Some(vec![disc]));
    }

    #[test]
    fn a_value_that_breaks_a_rule_is_a_miss() {
        let mut record = DiscRecord::from(&sample_disc(5));
        record.quantity = -1;
        let bytes = serde_json::to_vec(&[record]).unwrap();
        assert_eq!(decode(&bytes), None);
        assert_eq!(decode(b"not json"), None);
    }
}
