//! Page requests for listings.

use crate::audit::UserLogEntry;
use crate::user::UserId;

/// A 1-based page request with a clamped page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    limit: u32,
}

impl PageRequest {
    /// Builds a request, clamping `page` to at least 1 and `limit` to `1..=max_limit`.
    pub fn clamped(
        page: Option<i64>,
        limit: Option<i64>,
        default_limit: u32,
        max_limit: u32,
    ) -> Self {
        let clamp = |value: i64, lo: u32, hi: u32| value.clamp(i64::from(lo), i64::from(hi)) as u32;
        Self {
            page: clamp(page.unwrap_or(1), 1, u32::MAX),
            limit: clamp(limit.unwrap_or(i64::from(default_limit)), 1, max_limit),
        }
    }

    /// The 1-based page.
    pub fn page(self) -> u32 {
        self.page
    }

    /// Items per page.
    pub fn limit(self) -> u32 {
        self.limit
    }

    /// Items to skip.
    pub fn offset(self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.limit)
    }

    /// Number of pages needed for `total` items.
    pub fn pages_for(self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.limit))
    }
}

/// A query of the user log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogQuery {
    /// Only entries about this user.
    pub user_id: Option<UserId>,
    /// Which page.
    pub page: PageRequest,
}

/// One page of the user log, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    /// The entries.
    pub entries: Vec<UserLogEntry>,
    /// Entries matching the query in all.
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(None, None, 1, 50)]
    #[case(Some(0), Some(0), 1, 1)]
    #[case(Some(-5), Some(1000), 1, 100)]
    #[case(Some(3), Some(20), 3, 20)]
    fn page_and_limit_are_clamped(
        #[case] page: Option<i64>,
        #[case] limit: Option<i64>,
        #[case] expected_page: u32,
        #[case] expected_limit: u32,
    ) {
        let request = PageRequest::clamped(page, limit, 50, 100);
        assert_eq!(
            (request.page(), request.limit()),
            (expected_page, expected_limit)
        );
    }

    #[test]
    fn offset_and_page_count() {
        let request = PageRequest::clamped(Some(3), Some(20), 50, 100);
        assert_eq!(request.offset(), 40);
        assert_eq!(request.pages_for(0), 0);
        assert_eq!(request.pages_for(41), 3);
    }
}
