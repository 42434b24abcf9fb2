//! `agora analyze grouping` as a user runs it.

mod common;

use common::*;

#[test]
fn grouping_analysis_reports_safety_cost_and_anonymity() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("grouping.json");
    // Feeder 1 (limit 100) can be overloaded by its prosumers (10 + 30 + 70 = 110 >= 100):
    // eq. 2.17 bounds any group containing it by 100. Feeder 2 (limit 300) cannot.
    std::fs::write(
        &input,
        r#"{
          "feeders": [
            {"id": 1, "c_int": 100, "c_ext": 100, "prosumers": [{"l_prod": 10, "l_cons": 5}, {"l_prod": 30, "l_cons": 5}, {"l_prod": 70, "l_cons": 5}]},
            {"id": 2, "c_int": 300, "c_ext": 300, "prosumers": [{"l_prod": 20, "l_cons": 20}]}
          ],
          "groups": [
            {"feeders": [1, 2], "c_int": 150, "c_ext": 100, "sell": 160, "buy": 120},
            {"feeders": [1, 2], "c_int": 100, "c_ext": 100, "sell": 160, "buy": 120}
          ]
        }"#,
    )
    .unwrap();
    let report = agora_json(&["analyze", "grouping", "--input", input.to_str().unwrap()]);
    let groups = report.as_array().unwrap();
    assert_eq!(groups[0]["safe"], false);
    assert_eq!(groups[0]["safe_c_int"], 100);
    assert_eq!(groups[1]["safe"], true);
    // Eq. 2.18: min(160, 120) - min(160, 120, 100).
    assert_eq!(groups[1]["cost"], 20);
    // Sellers' limits 10, 30, 70, 20: anonymous up to 130 - 70 = 60.
    assert_eq!(groups[1]["anonymity_threshold_sell"], 60);
    // At the group limit (100 Wh sold) the 70 Wh prosumer sold at least 100 - 60 = 40.
    assert_eq!(
        groups[1]["least_sold_at_limit"],
        serde_json::json!([0, 0, 40, 0])
    );

    std::fs::write(
        &input,
        r#"{"feeders": [], "groups": [{"feeders": [9], "c_int": 1, "c_ext": 1}]}"#,
    )
    .unwrap();
    let out = agora_output(&["analyze", "grouping", "--input", input.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown feeder 9"));
}
