//! The CloudWatch Embedded Metric Format, checked by its specification.

use serde_json::Value;

/// Checks one log line against the CloudWatch Embedded Metric Format
/// specification: an `_aws` object with an integer `Timestamp` (ms) and
/// `CloudWatchMetrics` directives, each with a `Namespace`, `Dimensions` (a
/// list of dimension sets, each at most 30 names, every name a string member
/// of the line) and `Metrics` (at most 100, each a `Name` whose value in the
/// line is a number, or a list of at most 100 numbers, and a `Unit` from
/// CloudWatch's list).
pub fn check_emf(line: &Value) -> Result<(), String> {
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let aws = line["_aws"].as_object().ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(Value::as_u64)
        .filter(|ms| *ms > 1_600_000_000_000)
        .ok_or("_aws.Timestamp: not a time in milliseconds")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or("_aws.CloudWatchMetrics: not a non-empty list")?;
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        if namespace.is_empty() || namespace.len() > 1024 {
            return Err(format!("Namespace {namespace:?}"));
        }
        let sets = directive["Dimensions"]
            .as_array()
            .ok_or("Dimensions: not a list")?;
        for set in sets {
            let names = set.as_array().ok_or("a dimension set: not a list")?;
            if names.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for name in names {
                let name = name.as_str().ok_or("a dimension name: not a string")?;
                if !line[name].is_string() {
                    return Err(format!("dimension {name}: no string member"));
                }
            }
        }
        let metrics = directive["Metrics"]
            .as_array()
            .ok_or("Metrics: not a list")?;
        if metrics.len() > 100 {
            return Err("more than 100 metrics".into());
        }
        for metric in metrics {
            let name = metric["Name"].as_str().ok_or("a metric without a Name")?;
            let value = &line[name];
            let numeric = value.is_number()
                || value
                    .as_array()
                    .is_some_and(|v| v.len() <= 100 && v.iter().all(Value::is_number));
            if !numeric {
                return Err(format!("metric {name}: no numeric member"));
            }
            if let Some(unit) = metric.get("Unit") {
                if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    return Err(format!("metric {name}: unit {unit}"));
                }
            }
        }
    }
    Ok(())
}
