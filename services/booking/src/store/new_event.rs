//! An event's first write: its row, its sections and its reserved seats.

use super::commit::{clamp, column};
use common_types::messages::lifecycle::{EventSnapshot, SectionLayout};
use sqlx::PgConnection;

/// Idempotent: a replayed creation finds the rows there and changes nothing.
pub(super) async fn insert_event(
    tx: &mut PgConnection,
    partition: i32,
    event: &EventSnapshot,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (event_id, kafka_partition, organizer_id, title, starts_at,
                             sales_start, sales_end, currency, max_tickets_per_user)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event.event_id.0)
    .bind(partition)
    .bind(event.organizer_id.0)
    .bind(&event.title)
    .bind(event.starts_at)
    .bind(event.sales_start)
    .bind(event.sales_end)
    .bind(event.currency.to_string())
    .bind(event.max_tickets_per_user.map(clamp))
    .execute(&mut *tx)
    .await?;
    insert_sections(tx, event).await?;
    insert_seats(tx, event).await
}

async fn insert_sections(tx: &mut PgConnection, event: &EventSnapshot) -> Result<(), sqlx::Error> {
    let sections = &event.sections;
    let kind = |layout: &SectionLayout| match layout {
        SectionLayout::General { .. } => "general",
        SectionLayout::Reserved { .. } => "reserved",
    };
    let capacity = |layout: &SectionLayout| match layout {
        SectionLayout::General { capacity } => clamp(*capacity),
        SectionLayout::Reserved { seats } => i32::try_from(seats.len()).unwrap_or(i32::MAX),
    };
    sqlx::query(
        "INSERT INTO sections (event_id, section_id, position, name, kind, price, capacity, available)
         SELECT $1, v.id, v.pos, v.name, v.kind, v.price, v.capacity,
                CASE WHEN v.kind = 'general' THEN v.capacity ELSE 0 END
         FROM unnest($2::uuid[], $3::int4[], $4::text[], $5::text[], $6::int8[], $7::int4[])
           AS v(id, pos, name, kind, price, capacity)
         ON CONFLICT DO NOTHING",
    )
    .bind(event.event_id.0)
    .bind(column(sections, |s| s.id.0))
    .bind((0..sections.len()).map(|i| i32::try_from(i).unwrap_or(i32::MAX)).collect::<Vec<_>>())
    .bind(column(sections, |s| s.name.as_str()))
    .bind(column(sections, |s| kind(&s.layout)))
    .bind(column(sections, |s| s.price))
    .bind(column(sections, |s| capacity(&s.layout)))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_seats(tx: &mut PgConnection, event: &EventSnapshot) -> Result<(), sqlx::Error> {
    let seats: Vec<_> = event
        .sections
        .iter()
        .flat_map(|section| match &section.layout {
            SectionLayout::Reserved { seats } => seats.iter().map(|s| (section.id, s)).collect(),
            SectionLayout::General { .. } => Vec::new(),
        })
        .collect();
    if seats.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO seats (event_id, seat_id, section_id, row_label, number, x, y)
         SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::text[], $5::int4[],
                                  $6::float4[], $7::float4[])
         ON CONFLICT DO NOTHING",
    )
    .bind(event.event_id.0)
    .bind(column(&seats, |(_, s)| s.id.as_str()))
    .bind(column(&seats, |(section, _)| section.0))
    .bind(column(&seats, |(_, s)| s.row.as_str()))
    .bind(column(&seats, |(_, s)| clamp(s.number)))
    .bind(column(&seats, |(_, s)| s.x))
    .bind(column(&seats, |(_, s)| s.y))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
