//! The payment seam. A real provider (Stripe, Adyen...) implements
//! [`PaymentProvider`]; the [`SimulatedProvider`] answers deterministic test
//! cards so every path can be exercised:
//!
//! | card | result |
//! |---|---|
//! | `4242424242424242` | authorized |
//! | `4000000000000002` | declined (402) |
//! | `4000000000009995` | never answers (the caller's timeout gives 504) |
//! | `4000000000000077` | authorized after `slow_card_delay_ms` |
//! | any other Luhn-valid number | authorized |

use futures::future::BoxFuture;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Authorization {
    /// Chosen by the caller so a retried authorization is the same payment.
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub card_number: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PaymentError {
    #[error("the card was declined")]
    Declined,
    #[error("the card number is not valid")]
    InvalidCard,
    #[error("the payment provider did not answer in time")]
    Timeout,
    #[error("payment provider: {0}")]
    Provider(String),
}

/// Authorize before confirming; void an authorization that found no seats;
/// refund a captured payment of a cancelled booking.
pub trait PaymentProvider: Send + Sync + 'static {
    fn authorize(&self, request: Authorization) -> BoxFuture<'_, Result<(), PaymentError>>;
    fn void(&self, payment_id: &str) -> BoxFuture<'_, Result<(), PaymentError>>;
    fn refund(&self, payment_id: &str, amount: i64) -> BoxFuture<'_, Result<(), PaymentError>>;
}

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_TIMEOUT: &str = "4000000000009995";
pub const CARD_SLOW: &str = "4000000000000077";

pub struct SimulatedProvider {
    slow: Duration,
}

impl SimulatedProvider {
    pub fn new(slow: Duration) -> Self {
        Self { slow }
    }
}

/// The Luhn checksum every card number carries.
pub fn luhn_valid(number: &str) -> bool {
    let digits: Option<Vec<u32>> = number.chars().map(|c| c.to_digit(10)).collect();
    let Some(digits) = digits else { return false };
    if !(12..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl PaymentProvider for SimulatedProvider {
    fn authorize(&self, request: Authorization) -> BoxFuture<'_, Result<(), PaymentError>> {
        Box::pin(async move {
            match request.card_number.as_str() {
                CARD_DECLINED => Err(PaymentError::Declined),
                CARD_TIMEOUT => {
                    // A provider that hangs; the caller's deadline ends it.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Err(PaymentError::Timeout)
                }
                CARD_SLOW => {
                    tokio::time::sleep(self.slow).await;
                    Ok(())
                }
                n if luhn_valid(n) => Ok(()),
                _ => Err(PaymentError::InvalidCard),
            }
        })
    }

    fn void(&self, _payment_id: &str) -> BoxFuture<'_, Result<(), PaymentError>> {
        Box::pin(async { Ok(()) })
    }

    fn refund(&self, _payment_id: &str, _amount: i64) -> BoxFuture<'_, Result<(), PaymentError>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_are_luhn_valid() {
        for card in [CARD_OK, CARD_DECLINED, CARD_TIMEOUT, CARD_SLOW] {
            assert!(luhn_valid(card), "{card}");
        }
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("42424242x4242424"));
    }
}
