//! Printing results for people (text) or programs (`--json`, one JSON document on stdout).

use anyhow::Result;
use serde::Serialize;

pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn print(&self, value: &impl Serialize, text: impl FnOnce() -> String) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(value)?);
        } else {
            println!("{}", text());
        }
        Ok(())
    }
}
