//! Paging of list queries.

use crate::InvalidValue;

/// One page of a list: at most [`Page::MAX_LIMIT`] items after skipping
/// `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: i64,
    offset: i64,
}

impl Page {
    /// Items on a page when the client does not say.
    pub const DEFAULT_LIMIT: i64 = 100;
    /// Largest page; a larger `limit` is capped to it, not refused.
    pub const MAX_LIMIT: i64 = 100;

    /// Builds a page from optional client values.
    ///
    /// # Errors
    /// [`InvalidValue`] naming the parameter when either is negative.
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Self, InvalidValue> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        let offset = offset.unwrap_or(0);
        if limit < 0 {
            return Err(InvalidValue::new("limit must not be negative"));
        }
        if offset < 0 {
            return Err(InvalidValue::new("offset must not be negative"));
        }
        Ok(Self {
            limit: limit.min(Self::MAX_LIMIT),
            offset,
        })
    }

    /// How many items at most.
    #[must_use]
    pub const fn limit(&self) -> i64 {
        self.limit
    }

    /// How many items to skip.
    #[must_use]
    pub const fn offset(&self) -> i64 {
        self.offset
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_caps() {
        assert_eq!(Page::new(None, None), Ok(Page::default()));
        let capped = Page::new(Some(5_000), Some(7)).map(|p| (p.limit(), p.offset()));
        assert_eq!(capped, Ok((100, 7)));
    }

    #[test]
    fn refuses_negative_values_naming_the_parameter() {
        let limit = Page::new(Some(-1), None).map_err(|e| e.0);
        assert_eq!(limit, Err("limit must not be negative".to_owned()));
        let offset = Page::new(None, Some(-1)).map_err(|e| e.0);
        assert_eq!(offset, Err("offset must not be negative".to_owned()));
    }
}
