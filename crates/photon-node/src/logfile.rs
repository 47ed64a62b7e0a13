//! A log file that rotates by size: `photon.log` grows to a limit, then becomes
//! `photon.log.1` (the older ones move up to `.2` … and the oldest beyond `keep` goes), and a
//! new `photon.log` starts. For `photon run --log-file`; a writer for `tracing_subscriber`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A size-rotated log file.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    current: Mutex<(File, u64)>,
}

impl RotatingFile {
    /// Opens (appending to) `path`, rotating when it would pass `max_bytes` and keeping
    /// `keep` rotated files.
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self { path: path.to_path_buf(), max_bytes, keep, current: Mutex::new((file, size)) })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Moves the files up one place and starts a new one. A file moved or deleted from
    /// outside is no reason to stop logging: the new file is opened whatever the moves did.
    fn rotate(&self, current: &mut (File, u64)) -> std::io::Result<()> {
        let _ = current.0.flush();
        let moved = if self.keep == 0 {
            std::fs::remove_file(&self.path)
        } else {
            let _ = std::fs::remove_file(self.rotated(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    let _ = std::fs::rename(&from, self.rotated(n + 1));
                }
            }
            std::fs::rename(&self.path, self.rotated(1))
        };
        if let (Err(e), true) = (&moved, self.path.exists()) {
            // still there and not moved: start it over rather than grow it without bound
            eprintln!("log file {}: cannot rotate ({e}); starting it over", self.path.display());
            let file =
                OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?;
            *current = (file, 0);
            return Ok(());
        }
        *current = (OpenOptions::new().create(true).append(true).open(&self.path)?, 0);
        Ok(())
    }

    fn write_line(&self, buf: &[u8]) -> std::io::Result<usize> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.1 > 0 && current.1 + buf.len() as u64 > self.max_bytes {
            self.rotate(&mut current)?;
        }
        current.0.write_all(buf)?;
        current.1 += buf.len() as u64;
        Ok(buf.len())
    }
}

/// One writer per log event, as `tracing_subscriber` asks.
#[derive(Debug)]
pub struct Writer<'a>(&'a RotatingFile);

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_line(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut current = self.0.current.lock().unwrap_or_else(|e| e.into_inner());
        current.0.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = Writer<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Writer(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_at_its_size_and_keeps_its_number_of_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/photon.log");
        let log = RotatingFile::open(&path, 100, 2).unwrap();
        let line = |i: usize| format!("line {i:03} {}\n", "x".repeat(30)); // 40 bytes
        for i in 0..12 {
            Writer(&log).write_all(line(i).as_bytes()).unwrap();
        }
        Writer(&log).flush().unwrap();
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        // two lines per file: 10-11 current, 8-9 in .1, 6-7 in .2, older ones gone
        assert_eq!(read(path.clone()), format!("{}{}", line(10), line(11)));
        assert_eq!(read(log.rotated(1)), format!("{}{}", line(8), line(9)));
        assert_eq!(read(log.rotated(2)), format!("{}{}", line(6), line(7)));
        assert!(!log.rotated(3).exists());
        // deleted from outside: the next rotation starts a new file and logging goes on
        std::fs::remove_file(&path).unwrap();
        for i in 20..23 {
            Writer(&log).write_all(line(i).as_bytes()).unwrap();
        }
        assert_eq!(read(path.clone()), line(22));
        // opened again, it appends and counts what is there
        std::fs::write(&path, format!("{}{}", line(10), line(11))).unwrap();
        drop(log);
        let log = RotatingFile::open(&path, 100, 2).unwrap();
        Writer(&log).write_all(line(12).as_bytes()).unwrap();
        assert_eq!(read(path), line(12));
        assert_eq!(read(log.rotated(1)), format!("{}{}", line(10), line(11)));
    }
}
