//! Heat map: ads per region for each product, scaled 0-100 relative to the
//! product's own hottest region (as search-interest tools do), so a small
//! product's geography is as readable as a big one's.

use std::collections::BTreeMap;

use super::geo::{REGIONS, region_of};

/// Located ads of one product in one country.
#[derive(Debug, Clone)]
pub struct CountryAds<'a> {
    pub product_id: i64,
    pub product_name: &'a str,
    pub country: &'a str,
    pub ads: i64,
}

/// Product name -> region -> 0-100. Input rows are grouped by product in the
/// order the products should appear; two products sharing a name are told
/// apart by their id.
pub fn heat_map(rows: &[CountryAds<'_>]) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut per_product: Vec<(i64, &str, [i64; REGIONS.len()])> = Vec::new();
    for row in rows {
        let Some(region) = region_of(row.country) else {
            continue;
        };
        let slot = REGIONS.iter().position(|r| *r == region).unwrap_or(0);
        match per_product.last_mut() {
            Some((id, _, counts)) if *id == row.product_id => counts[slot] += row.ads,
            _ => {
                let mut counts = [0; REGIONS.len()];
                counts[slot] = row.ads;
                per_product.push((row.product_id, row.product_name, counts));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (id, name, counts) in per_product {
        let peak = counts.iter().copied().max().unwrap_or(0);
        if peak == 0 {
            continue;
        }
        let regions = REGIONS
            .iter()
            .zip(counts)
            .map(|(r, c)| {
                (
                    (*r).to_owned(),
                    ((100 * c) as f64 / peak as f64).round() as i64,
                )
            })
            .collect();
        let key = if out.contains_key(name) {
            format!("{name} (#{id})")
        } else {
            name.to_owned()
        };
        out.insert(key, regions);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(id: i64, name: &'a str, country: &'a str, ads: i64) -> CountryAds<'a> {
        CountryAds {
            product_id: id,
            product_name: name,
            country,
            ads,
        }
    }

    #[test]
    fn regions_are_relative_to_the_hottest_one() {
        let map = heat_map(&[
            row(1, "Lamp", "US", 6),
            row(1, "Lamp", "CA", 2),
            row(1, "Lamp", "DE", 4),
        ]);
        let lamp = &map["Lamp"];
        assert_eq!(lamp["North America"], 100);
        assert_eq!(lamp["Europe"], 50);
        assert_eq!(lamp["Asia"], 0);
        assert_eq!(lamp.len(), REGIONS.len());
    }

    #[test]
    fn products_with_the_same_name_stay_apart() {
        let map = heat_map(&[row(1, "Lamp", "US", 1), row(2, "Lamp", "JP", 1)]);
        assert_eq!(map["Lamp"]["North America"], 100);
        assert_eq!(map["Lamp (#2)"]["Asia"], 100);
    }

    #[test]
    fn unknown_countries_are_ignored() {
        assert!(heat_map(&[row(1, "Lamp", "ZZ", 3)]).is_empty());
    }
}
