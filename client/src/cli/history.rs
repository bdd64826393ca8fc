//! The lines entered at the prompt, kept between runs in `$XDG_STATE_HOME/jukebox/history`
//! (`~/.local/state/jukebox/history` when the variable is unset), one line each. Each line is
//! appended as it is entered, so a crash loses none; the file is cut back to the last
//! [`MAX_ENTRIES`] when it is loaded.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Lines kept.
pub const MAX_ENTRIES: usize = 1000;

pub struct History {
    entries: Vec<String>,
    file: Option<PathBuf>,
}

impl History {
    /// The history file of this user, if a home or state folder is known.
    pub fn default_path() -> Option<PathBuf> {
        let state = match std::env::var_os("XDG_STATE_HOME") {
            Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
            _ => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
        };
        Some(state.join("jukebox").join("history"))
    }

    /// Loads `file` (missing is empty); without a file, history lasts for this run only.
    pub fn load(file: Option<PathBuf>) -> History {
        let mut entries: Vec<String> = file
            .as_deref()
            .and_then(|path| fs::read(path).ok())
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if entries.len() > MAX_ENTRIES {
            entries.drain(..entries.len() - MAX_ENTRIES);
            if let Some(path) = &file {
                let mut text = entries.join("\n");
                text.push('\n');
                if let Err(e) = fs::write(path, text) {
                    tracing::debug!("cannot rewrite the history {}: {e}", path.display());
                }
            }
        }
        History { entries, file }
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Remembers an entered line (not a blank one, nor the same line twice in a row).
    pub fn push(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() || self.entries.last().map(String::as_str) == Some(line) {
            return;
        }
        self.entries.push(line.to_string());
        if self.entries.len() > MAX_ENTRIES {
            self.entries.remove(0);
        }
        if let Some(path) = &self.file {
            if let Err(e) = append(path, line) {
                tracing::debug!("cannot save the history to {}: {e}", path.display());
            }
        }
    }
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_a_restart_and_the_file_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/jukebox/history");
        let mut history = History::load(Some(path.clone()));
        history.push("list");
        history.push("list");
        history.push("  ");
        history.push("play 3");
        let again = History::load(Some(path.clone()));
        assert_eq!(again.entries(), ["list", "play 3"]);
        let many: String = (0..MAX_ENTRIES + 10)
            .map(|i| format!("play {i}\n"))
            .collect();
        fs::write(&path, many).unwrap();
        let cut = History::load(Some(path.clone()));
        assert_eq!(cut.entries().len(), MAX_ENTRIES);
        assert_eq!(cut.entries()[0], "play 10");
        assert_eq!(History::load(Some(path)).entries().len(), MAX_ENTRIES);
    }
}
