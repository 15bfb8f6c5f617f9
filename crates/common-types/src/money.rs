//! Money as an integer number of minor units plus an ISO 4217 currency, as
//! Stripe does: no floating point ever touches a price.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code this platform sells in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown currency {0:?}: expected an ISO 4217 code such as USD, EUR or GBP")]
pub struct UnknownCurrency(pub String);

/// The currencies we accept. All have two minor-unit digits except JPY and KRW,
/// which have none; amounts are always in the currency's minor unit.
const KNOWN: &[&str] = &[
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN", "CZK",
    "HUF", "INR", "SGD", "HKD", "KRW", "BRL", "MXN", "ZAR",
];

impl Currency {
    pub fn parse(code: &str) -> Result<Self, UnknownCurrency> {
        let upper = code.trim().to_ascii_uppercase();
        if KNOWN.contains(&upper.as_str()) {
            let b = upper.as_bytes();
            Ok(Self([b[0], b[1], b[2]]))
        } else {
            Err(UnknownCurrency(code.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII codes from KNOWN are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = UnknownCurrency;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in minor units (cents) of a currency. Never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("an amount cannot be negative (got {0})")]
    Negative(i64),
    #[error("amounts in {0} and {1} cannot be added")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflows")]
    Overflow,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Result<Self, MoneyError> {
        if amount < 0 {
            return Err(MoneyError::Negative(amount));
        }
        Ok(Self { amount, currency })
    }

    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: 0,
            currency,
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    pub fn times(self, quantity: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_parse_case_insensitively_and_reject_unknown() {
        assert_eq!(
            Currency::parse("usd").map(|c| c.to_string()),
            Ok("USD".into())
        );
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn money_never_goes_negative_or_mixes_currencies() -> Result<(), MoneyError> {
        let usd = Currency::parse("USD").map_err(|_| MoneyError::Overflow)?;
        let eur = Currency::parse("EUR").map_err(|_| MoneyError::Overflow)?;
        assert_eq!(Money::new(-1, usd), Err(MoneyError::Negative(-1)));
        let total = Money::new(2500, usd)?.times(3)?;
        assert_eq!(total.amount, 7500);
        assert!(total.checked_add(Money::zero(eur)).is_err());
        Ok(())
    }
}
