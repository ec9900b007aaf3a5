//! A small INI renderer for oslo.config files: sections and keys keep the
//! order they were set in, and the record's overrides are merged on top.

use std::collections::BTreeMap;

/// Overrides of one file: section → key → value.
pub type FileOverrides = BTreeMap<String, BTreeMap<String, String>>;

/// An INI file being built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Ini {
    /// An empty file.
    pub fn new() -> Ini {
        Ini::default()
    }

    /// Sets `key` in `section`, replacing an earlier value in place.
    pub fn set(&mut self, section: &str, key: &str, value: impl Into<String>) -> &mut Ini {
        let value = value.into();
        let idx = match self.sections.iter().position(|(s, _)| s == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_string(), Vec::new()));
                self.sections.len() - 1
            }
        };
        let keys = &mut self.sections[idx].1;
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => keys.push((key.to_string(), value)),
        }
        self
    }

    /// Sets every `(key, value)` of `section`.
    pub fn section(&mut self, section: &str, pairs: &[(&str, String)]) -> &mut Ini {
        for (k, v) in pairs {
            self.set(section, k, v.clone());
        }
        self
    }

    /// The value of `key` in `section`.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|(s, _)| s == section)
            .and_then(|(_, keys)| keys.iter().find(|(k, _)| k == key))
            .map(|(_, v)| v.as_str())
    }

    /// Merges the record's overrides of this file over the defaults: known
    /// keys change in place, new ones come after, in the overrides' order.
    pub fn merge(&mut self, overrides: Option<&FileOverrides>) -> &mut Ini {
        for (section, keys) in overrides.into_iter().flatten() {
            for (k, v) in keys {
                self.set(section, k, v.clone());
            }
        }
        self
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, (section, keys)) in self.sections.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!("[{section}]\n"));
            for (k, v) in keys {
                if v.is_empty() {
                    out.push_str(&format!("{k} =\n"));
                } else {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
        }
        out
    }
}

/// Escapes a value for oslo.config, which substitutes `$name`.
pub fn oslo_escape(value: &str) -> String {
    value.replace('$', "$$")
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for
/// passwords inside URLs such as `mysql+pymysql://user:PW@host/db`).
pub fn url_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_merge_appends() {
        let mut ini = Ini::new();
        ini.set("DEFAULT", "a", "1")
            .set("DEFAULT", "b", "2")
            .set("x", "c", "");
        let mut o = FileOverrides::new();
        o.entry("DEFAULT".into())
            .or_default()
            .insert("a".into(), "9".into());
        o.entry("new".into())
            .or_default()
            .insert("k".into(), "v".into());
        ini.merge(Some(&o));
        assert_eq!(
            ini.render(),
            "[DEFAULT]\na = 9\nb = 2\n\n[x]\nc =\n\n[new]\nk = v\n"
        );
        assert_eq!(ini.get("new", "k"), Some("v"));
    }

    #[test]
    fn escapes() {
        assert_eq!(url_encode("a b/c@d:e%"), "a%20b%2Fc%40d%3Ae%25");
        assert_eq!(oslo_escape("x$y"), "x$$y");
    }
}
