//! Browse and search: `GET /api/v1/events?q=&category=&city=&from=&to=&sort=&page=&per_page=`.

use super::event::EventStatus;
use super::text::TextQuery;
use crate::error::Error;
use chrono::{DateTime, Utc};
use common_types::page::PageRequest;
use common_types::{PageQuery, UserId};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    pub q: Option<String>,
    pub category: Option<String>,
    pub city: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sort: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    /// `mine=true`: the caller's own events in any status (organizers).
    #[serde(default)]
    pub mine: bool,
    /// With `mine=true`: only events in this status.
    pub status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    StartsAsc,
    StartsDesc,
    TitleAsc,
    TitleDesc,
    Newest,
    /// Best text match first (needs `q`).
    Relevance,
}

impl Sort {
    pub const ACCEPTED: &'static str = "starts_at, -starts_at, title, -title, newest or relevance";

    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "starts_at" | "date" => Sort::StartsAsc,
            "-starts_at" | "-date" => Sort::StartsDesc,
            "title" => Sort::TitleAsc,
            "-title" => Sort::TitleDesc,
            "newest" | "-created_at" => Sort::Newest,
            "relevance" => Sort::Relevance,
            _ => return None,
        })
    }
}

/// Who is asking decides which statuses are visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everyone: published events only.
    Public,
    /// One organizer's own events, optionally in one status.
    Organizer(UserId, Option<EventStatus>),
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSearch {
    pub scope: Scope,
    pub text: Option<TextQuery>,
    pub category: Option<String>,
    /// Lower-case city.
    pub city: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sort: Sort,
    pub page: PageRequest,
}

impl EventSearch {
    pub fn parse(params: SearchParams, caller: Option<UserId>) -> Result<Self, Error> {
        let mut problems = super::Problems::default();
        let page = match (PageQuery {
            page: params.page,
            per_page: params.per_page,
        })
        .resolve()
        {
            Ok(p) => Some(p),
            Err(e) => {
                let field = match e {
                    common_types::page::PageError::Page => "page",
                    common_types::page::PageError::PerPage { .. } => "per_page",
                };
                problems.add(field, e.to_string());
                None
            }
        };
        let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let text = clean(params.q);
        if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
            problems.add("q", "must be at most 200 characters");
        }
        let sort = match params
            .sort
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None if text.is_some() => Sort::Relevance,
            None => Sort::StartsAsc,
            Some(s) => match Sort::parse(s) {
                Some(Sort::Relevance) if text.is_none() => {
                    problems.add("sort", "relevance needs a text query q");
                    Sort::StartsAsc
                }
                Some(sort) => sort,
                None => {
                    problems.add("sort", format!("must be one of {}", Sort::ACCEPTED));
                    Sort::StartsAsc
                }
            },
        };
        if let (Some(from), Some(to)) = (params.from, params.to) {
            if to < from {
                problems.add("to", "must not be before from");
            }
        }
        let scope = if params.mine {
            match caller {
                Some(id) => {
                    let status = match params.status.as_deref() {
                        None | Some("") => None,
                        Some(s) => match EventStatus::parse(s) {
                            Some(status) => Some(status),
                            None => {
                                problems.add(
                                    "status",
                                    "must be draft, published, cancelled or completed",
                                );
                                None
                            }
                        },
                    };
                    Scope::Organizer(id, status)
                }
                None => return Err(service_http::auth::AuthError::Missing.into()),
            }
        } else {
            Scope::Public
        };
        let Some(page) = page else {
            return Err(Error::Validation(problems.0));
        };
        problems.into_result(|| EventSearch {
            scope,
            text: text.as_deref().map(TextQuery::parse),
            category: clean(params.category).map(|c| c.to_lowercase()),
            city: clean(params.city).map(|c| c.to_lowercase()),
            from: params.from,
            to: params.to,
            sort,
            page,
        })
    }

    /// The public first page is what everyone loads; it is worth caching.
    pub fn cache_key(&self) -> Option<String> {
        (self.scope == Scope::Public && self.page.page == 1).then(|| format!("{self:?}"))
    }
}
