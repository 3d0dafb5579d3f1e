//! Labelled films: a folder with one subfolder per grade (`0`…`4`, or names
//! starting with the digit such as `0Normal`), searched recursively, or a CSV
//! `path,grade` whose relative paths are resolved against the CSV's folder.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::metrics::GRADES;

/// File extensions taken as films (case-insensitive); DICOM files may also have none.
const FILM_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "dcm", "dicom", "dic"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Film {
    pub path: PathBuf,
    pub grade: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DatasetSummary {
    pub source: String,
    pub films_per_grade: [usize; GRADES],
    /// Files that were listed but could not be read as films, with the reason; skipped.
    pub unreadable: Vec<(String, String)>,
}

impl DatasetSummary {
    pub fn total(&self) -> usize {
        self.films_per_grade.iter().sum()
    }
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub films: Vec<Film>,
    pub summary: DatasetSummary,
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0}: no such file or folder")]
    Missing(PathBuf),
    #[error("{path}: no grade folders found (expected subfolders named 0..4 or starting with the grade digit, e.g. 0Normal); found {found}")]
    NoGradeFolders { path: PathBuf, found: String },
    #[error("{path}: grade {grade} has no readable films (films per grade: {counts:?})")]
    EmptyGrade { path: PathBuf, grade: usize, counts: [usize; GRADES] },
    #[error("{path}, line {line}: {message}")]
    Csv { path: PathBuf, line: usize, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io { path: path.to_path_buf(), source }
}

/// The grade a folder name stands for: its first character, when a digit 0–4.
fn grade_of_folder(name: &str) -> Option<usize> {
    let d = name.chars().next()?.to_digit(10)? as usize;
    (d < GRADES).then_some(d)
}

fn looks_like_film(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => FILM_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
        None => true,
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DatasetError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if looks_like_film(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Checks a film can be opened; the reason otherwise.
pub fn check_readable(path: &Path) -> Result<(), String> {
    crate::imaging::Radiograph::open(path).map(|_| ()).map_err(|e| e.to_string())
}

impl Dataset {
    /// A folder of grade folders, or a `.csv` file. Every film is opened once to
    /// check it is readable (`verify`); unreadable ones are listed in the summary
    /// and skipped. Refuses when a grade ends up empty.
    pub fn open(path: &Path, verify: bool) -> Result<Self, DatasetError> {
        if !path.exists() {
            return Err(DatasetError::Missing(path.to_path_buf()));
        }
        let listed = if path.is_file() { read_csv(path)? } else { read_folders(path)? };
        let mut summary = DatasetSummary { source: path.display().to_string(), ..Default::default() };
        let mut films = Vec::with_capacity(listed.len());
        for film in listed {
            if verify {
                if let Err(reason) = check_readable(&film.path) {
                    summary.unreadable.push((film.path.display().to_string(), reason));
                    continue;
                }
            }
            summary.films_per_grade[film.grade] += 1;
            films.push(film);
        }
        if let Some(grade) = (0..GRADES).find(|&g| summary.films_per_grade[g] == 0) {
            return Err(DatasetError::EmptyGrade {
                path: path.to_path_buf(),
                grade,
                counts: summary.films_per_grade,
            });
        }
        Ok(Self { films, summary })
    }

    pub fn grades(&self) -> Vec<usize> {
        self.films.iter().map(|f| f.grade).collect()
    }
}

fn read_folders(root: &Path) -> Result<Vec<Film>, DatasetError> {
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    subdirs.sort();
    let mut films = Vec::new();
    let mut found_grade = false;
    let mut other = Vec::new();
    for dir in &subdirs {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        match (dir.is_dir(), grade_of_folder(&name)) {
            (true, Some(grade)) => {
                found_grade = true;
                let mut files = Vec::new();
                walk(dir, &mut files)?;
                films.extend(files.into_iter().map(|path| Film { path, grade }));
            }
            (true, None) => other.push(format!("folder {name:?}")),
            (false, _) if !name.starts_with('.') => other.push(format!("file {name:?}")),
            _ => {}
        }
    }
    if !found_grade {
        let found = if other.is_empty() {
            "nothing".to_string()
        } else {
            let n = other.len();
            let mut shown: Vec<String> = other.into_iter().take(5).collect();
            if n > 5 {
                shown.push(format!("and {} more", n - 5));
            }
            shown.join(", ")
        };
        return Err(DatasetError::NoGradeFolders { path: root.to_path_buf(), found });
    }
    Ok(films)
}

/// `path,grade` lines; a first line whose grade column is not a number is a header.
fn read_csv(csv: &Path) -> Result<Vec<Film>, DatasetError> {
    let text = std::fs::read_to_string(csv).map_err(io(csv))?;
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut films = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |message: String| DatasetError::Csv { path: csv.to_path_buf(), line: i + 1, message };
        let (file, grade) = line
            .rsplit_once(',')
            .ok_or_else(|| err("expected `path,grade`".into()))?;
        let (file, grade) = (file.trim().trim_matches('"'), grade.trim().trim_matches('"'));
        let grade: usize = match grade.parse() {
            Ok(g) => g,
            Err(_) if i == 0 => continue,
            Err(_) => return Err(err(format!("grade {grade:?} is not a number 0-4"))),
        };
        if grade >= GRADES {
            return Err(err(format!("grade {grade} is not a KL grade 0-4")));
        }
        let p = Path::new(file);
        films.push(Film { path: if p.is_absolute() { p.to_path_buf() } else { base.join(p) }, grade });
    }
    Ok(films)
}
