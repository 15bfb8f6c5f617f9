use serde::{Deserialize, Serialize};

/// One page of a list: `{"items": [...], "page": 1, "per_page": 20, "total": 57}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

/// `?page=&per_page=` as sent; [`PageQuery::resolve`] applies defaults and bounds.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct PageQuery {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error("page starts at 1")]
    Page,
    #[error("per_page must be between 1 and {max}")]
    PerPage { max: u32 },
}

impl PageQuery {
    pub const DEFAULT_PER_PAGE: u32 = 20;
    pub const MAX_PER_PAGE: u32 = 100;

    pub fn resolve(self) -> Result<PageRequest, PageError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(PageError::Page);
        }
        if per_page == 0 || per_page > Self::MAX_PER_PAGE {
            return Err(PageError::PerPage {
                max: Self::MAX_PER_PAGE,
            });
        }
        Ok(PageRequest { page, per_page })
    }
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, request: PageRequest, total: u64) -> Self {
        Self {
            items,
            page: request.page,
            per_page: request.per_page,
            total,
        }
    }
}
