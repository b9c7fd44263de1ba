//! Lists that read from the environment in a plain form.
//!
//! `SEALGATE__SERVER__TRUSTED_PROXIES=10.0.0.0/8,192.168.0.0/16` is a list of
//! two networks, as is the TOML form `["10.0.0.0/8", "192.168.0.0/16"]`
//! (in a file or in the variable). A plain string is split at commas, each
//! item trimmed; an empty string is the empty list. Each item is then read
//! as the list's element type, so a bad item is the same error as in TOML.

use serde::de::value::StrDeserializer;
use serde::de::{Deserialize, Deserializer, Error, IntoDeserializer, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

struct PlainOrList<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for PlainOrList<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list, or a comma-separated string")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(items)
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Vec<T>, E> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                let item: StrDeserializer<'_, E> = item.into_deserializer();
                T::deserialize(item)
            })
            .collect()
    }
}

/// `#[serde(deserialize_with = "list::plain_or_list")]` on a `Vec<T>` field.
pub fn plain_or_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(PlainOrList(PhantomData))
}

/// The same for an optional list (`Option<Vec<T>>`, with `#[serde(default)]`).
pub fn optional_plain_or_list<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    plain_or_list(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Networks {
        #[serde(deserialize_with = "plain_or_list")]
        nets: Vec<IpNet>,
    }

    fn nets(toml_value: &str) -> Result<Vec<String>, String> {
        toml::from_str::<Networks>(&format!("nets = {toml_value}"))
            .map(|n| n.nets.iter().map(ToString::to_string).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_plain_string_is_split_at_commas_and_trimmed() {
        assert_eq!(nets("\"10.0.0.0/8, 192.168.0.0/16\"").unwrap(), ["10.0.0.0/8", "192.168.0.0/16"]);
        assert_eq!(nets("\"10.0.0.0/8\"").unwrap(), ["10.0.0.0/8"]);
        assert!(nets("\"\"").unwrap().is_empty());
    }

    #[test]
    fn the_toml_list_form_still_reads() {
        assert_eq!(nets("[\"10.0.0.0/8\", \"::1/128\"]").unwrap(), ["10.0.0.0/8", "::1/128"]);
    }

    #[test]
    fn a_bad_item_in_either_form_is_an_error() {
        assert!(nets("\"10.0.0.0/8,not-a-network\"").is_err());
        assert!(nets("[\"10.0.0.0/8\", \"not-a-network\"]").is_err());
    }
}
