//! The PostgreSQL adapter: JSONB documents plus indexed columns.

use super::{join_event, split_event, CatalogStore, OutboxMessage, StoreError, StoreResult};
use crate::domain::event::Event;
use crate::domain::search::{EventSearch, Scope, Sort};
use crate::domain::venue::Venue;
use common_types::page::PageRequest;
use common_types::{EventId, UserId, VenueId};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

#[derive(Clone)]
pub struct PgCatalog {
    pool: PgPool,
}

impl PgCatalog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn venue_from(doc: serde_json::Value) -> StoreResult<Venue> {
    Ok(serde_json::from_value(doc)?)
}

/// The WHERE clause of a search, shared by the page and the count queries.
fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, search: &EventSearch) {
    match &search.scope {
        Scope::Public => {
            qb.push(" WHERE status = 'published'");
        }
        Scope::Organizer(id, status) => {
            qb.push(" WHERE organizer_id = ").push_bind(id.as_uuid());
            if let Some(status) = status {
                qb.push(" AND status = ").push_bind(status.as_str());
            }
        }
    }
    if let Some(text) = &search.text {
        qb.push(" AND search @@ websearch_to_tsquery('english', ")
            .push_bind(text.clone())
            .push(")");
    }
    if let Some(category) = &search.category {
        qb.push(" AND category = ").push_bind(category.clone());
    }
    if let Some(city) = &search.city {
        qb.push(" AND city_key = ").push_bind(city.clone());
    }
    if let Some(from) = search.from {
        qb.push(" AND starts_at >= ").push_bind(from);
    }
    if let Some(to) = search.to {
        qb.push(" AND starts_at <= ").push_bind(to);
    }
}

impl CatalogStore for PgCatalog {
    #[tracing::instrument(name = "store.insert_venue", skip_all, fields(venue_id = %venue.id))]
    async fn insert_venue(&self, venue: &Venue) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO venues (id, organizer_id, version, created_at, doc) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(venue.id.as_uuid())
        .bind(venue.organizer_id.as_uuid())
        .bind(venue.version)
        .bind(venue.created_at)
        .bind(Json(venue))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.update_venue", skip_all, fields(venue_id = %venue.id))]
    async fn update_venue(&self, venue: &Venue) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE venues SET version = $2, doc = $3 WHERE id = $1 AND version = $4")
                .bind(venue.id.as_uuid())
                .bind(venue.version)
                .bind(Json(venue))
                .bind(venue.version - 1)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    #[tracing::instrument(name = "store.venue", skip(self))]
    async fn venue(&self, id: VenueId) -> StoreResult<Option<Venue>> {
        let doc: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT doc FROM venues WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
        doc.map(venue_from).transpose()
    }

    #[tracing::instrument(name = "store.venues", skip(self))]
    async fn venues(
        &self,
        organizer: Option<UserId>,
        page: PageRequest,
    ) -> StoreResult<(Vec<Venue>, u64)> {
        let organizer = organizer.map(|o| o.as_uuid());
        let docs: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT doc FROM venues WHERE ($1::uuid IS NULL OR organizer_id = $1)
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(organizer)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM venues WHERE ($1::uuid IS NULL OR organizer_id = $1)",
        )
        .bind(organizer)
        .fetch_one(&self.pool)
        .await?;
        let venues = docs
            .into_iter()
            .map(venue_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((venues, u64::try_from(total).unwrap_or(0)))
    }

    #[tracing::instrument(name = "store.insert_event", skip_all, fields(event_id = %event.id))]
    async fn insert_event(&self, event: &Event) -> StoreResult<()> {
        let (doc, layout) = split_event(event)?;
        sqlx::query(
            "INSERT INTO events (id, organizer_id, venue_id, status, title, category, city_key,
                                 starts_at, created_at, version, doc, layout)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(event.id.as_uuid())
        .bind(event.organizer_id.as_uuid())
        .bind(event.venue_id.as_uuid())
        .bind(event.status.as_str())
        .bind(&event.title)
        .bind(&event.category)
        .bind(event.city.to_lowercase())
        .bind(event.starts_at)
        .bind(event.created_at)
        .bind(event.version)
        .bind(Json(doc))
        .bind((!layout.is_null()).then_some(Json(layout)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.update_event", skip_all, fields(event_id = %event.id, version = event.version, messages = outbox.len()))]
    async fn update_event(&self, event: &Event, outbox: &[OutboxMessage]) -> StoreResult<()> {
        let (doc, layout) = split_event(event)?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE events SET venue_id = $2, status = $3, title = $4, category = $5, city_key = $6,
                    starts_at = $7, version = $8, doc = $9, layout = $10
             WHERE id = $1 AND version = $11",
        )
        .bind(event.id.as_uuid())
        .bind(event.venue_id.as_uuid())
        .bind(event.status.as_str())
        .bind(&event.title)
        .bind(&event.category)
        .bind(event.city.to_lowercase())
        .bind(event.starts_at)
        .bind(event.version)
        .bind(Json(doc))
        .bind((!layout.is_null()).then_some(Json(layout)))
        .bind(event.version - 1)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::Conflict);
        }
        for message in outbox {
            sqlx::query(
                "INSERT INTO outbox (id, topic, key, message_type, payload, request_id)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(message.id)
            .bind(&message.topic)
            .bind(&message.key)
            .bind(&message.message_type)
            .bind(&message.payload)
            .bind(&message.request_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.event", skip(self))]
    async fn event(&self, id: EventId) -> StoreResult<Option<Event>> {
        let row = sqlx::query("SELECT doc, layout FROM events WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let doc: serde_json::Value = row.try_get("doc")?;
        let layout: Option<serde_json::Value> = row.try_get("layout")?;
        join_event(doc, layout).map(Some)
    }

    /// Two steps: the page's ids in order (an index-only scan for the plain
    /// orders, so deep OFFSETs skip index entries, not documents), then those
    /// documents; the count runs alongside.
    #[tracing::instrument(name = "store.search_events", skip(self))]
    async fn search_events(&self, search: &EventSearch) -> StoreResult<(Vec<Event>, u64)> {
        let mut ids_query = QueryBuilder::<Postgres>::new("SELECT id FROM events");
        push_filters(&mut ids_query, search);
        ids_query.push(" ORDER BY ");
        match search.sort {
            Sort::StartsAsc => ids_query.push("starts_at ASC, id ASC"),
            Sort::StartsDesc => ids_query.push("starts_at DESC, id DESC"),
            Sort::TitleAsc => ids_query.push("title ASC, id ASC"),
            Sort::TitleDesc => ids_query.push("title DESC, id DESC"),
            Sort::Newest => ids_query.push("created_at DESC, id DESC"),
            Sort::Relevance => ids_query
                .push("ts_rank(search, websearch_to_tsquery('english', ")
                .push_bind(search.text.clone().unwrap_or_default())
                .push(")) DESC, starts_at ASC, id ASC"),
        };
        ids_query
            .push(" LIMIT ")
            .push_bind(search.page.limit())
            .push(" OFFSET ")
            .push_bind(search.page.offset());
        let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM events");
        push_filters(&mut count, search);

        let (ids, total): (Vec<Uuid>, i64) = tokio::try_join!(
            ids_query.build_query_scalar().fetch_all(&self.pool),
            count.build_query_scalar().fetch_one(&self.pool),
        )?;
        let rows = sqlx::query("SELECT id, doc FROM events WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        let mut docs = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let id: Uuid = row.try_get("id")?;
            let doc: serde_json::Value = row.try_get("doc")?;
            docs.insert(id, doc);
        }
        // A row deleted between the two reads is simply left out.
        let events = ids
            .iter()
            .filter_map(|id| docs.remove(id))
            .map(|doc| join_event(doc, None))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((events, u64::try_from(total).unwrap_or(0)))
    }

    async fn pending_outbox(&self, limit: u32) -> StoreResult<Vec<OutboxMessage>> {
        let rows = sqlx::query(
            "SELECT id, topic, key, message_type, payload, request_id FROM outbox
             WHERE sent_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(OutboxMessage {
                    id: row.try_get("id")?,
                    topic: row.try_get("topic")?,
                    key: row.try_get("key")?,
                    message_type: row.try_get("message_type")?,
                    payload: row.try_get("payload")?,
                    request_id: row.try_get("request_id")?,
                })
            })
            .collect()
    }

    async fn mark_sent(&self, sent: &[OutboxMessage]) -> StoreResult<()> {
        let ids: Vec<Uuid> = sent.iter().map(|m| m.id).collect();
        sqlx::query("UPDATE outbox SET sent_at = now() WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&self.pool)
            .await?;
        // Sent rows are kept a day for inspection, then dropped.
        sqlx::query("DELETE FROM outbox WHERE sent_at < now() - interval '1 day'")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> bool {
        database::ping(&self.pool).await
    }
}
