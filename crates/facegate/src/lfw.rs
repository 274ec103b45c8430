//! The LFW View-2 pairs file: a header `folds<TAB>n`, then for each fold `n` same-person lines
//! `Name i j` and `n` different-person lines `Name1 i Name2 j` (tab or space separated).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One labelled pair of image paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledPair {
    pub fold: usize,
    pub same: bool,
    pub a: PathBuf,
    pub b: PathBuf,
}

/// A parsed pairs file.
#[derive(Debug, Clone)]
pub struct PairsFile {
    pub folds: usize,
    pub pairs: Vec<LabelledPair>,
}

/// `<images>/<Name>/<Name>_<0000i>.jpg`
pub fn image_path(images: &Path, name: &str, index: &str) -> Result<PathBuf> {
    let i: u32 = index.parse().with_context(|| format!("image number '{index}' is not a number"))?;
    Ok(images.join(name).join(format!("{name}_{i:04}.jpg")))
}

pub fn parse_pairs(text: &str, images: &Path) -> Result<PairsFile> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let header = lines.next().context("the pairs file is empty")?;
    let head: Vec<&str> = header.split_whitespace().collect();
    let (folds, per_fold) = match head.as_slice() {
        [f, n] => (
            f.parse::<usize>().context("header: number of folds")?,
            n.parse::<usize>().context("header: pairs per fold")?,
        ),
        _ => bail!("header must be '<folds> <pairs per fold>', got '{header}'"),
    };
    if folds == 0 || per_fold == 0 {
        bail!("header announces no pairs");
    }
    let mut pairs = Vec::with_capacity(folds * per_fold * 2);
    for (n, line) in lines.enumerate() {
        let fold = n / (2 * per_fold);
        if fold >= folds {
            bail!("more lines than the header's {folds} folds of {per_fold} + {per_fold} pairs");
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let pair = match f.as_slice() {
            [name, i, j] => {
                LabelledPair { fold, same: true, a: image_path(images, name, i)?, b: image_path(images, name, j)? }
            }
            [n1, i, n2, j] => {
                LabelledPair { fold, same: false, a: image_path(images, n1, i)?, b: image_path(images, n2, j)? }
            }
            _ => bail!("line {}: expected 3 or 4 fields, got '{line}'", n + 2),
        };
        pairs.push(pair);
    }
    if pairs.len() != folds * per_fold * 2 {
        bail!("the header announces {} pairs, the file has {}", folds * per_fold * 2, pairs.len());
    }
    Ok(PairsFile { folds, pairs })
}

/// The identity of an LFW image: the name of its folder.
pub fn identity_of(path: &Path) -> String {
    path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_same_and_different_lines_into_folds() {
        let text = "2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t4\nE\t1\tF\t10\n";
        let p = parse_pairs(text, Path::new("/img")).expect("valid");
        assert_eq!(p.folds, 2);
        assert_eq!(p.pairs.len(), 4);
        assert!(p.pairs[0].same && !p.pairs[1].same);
        assert_eq!(p.pairs[2].fold, 1);
        assert_eq!(p.pairs[3].b, Path::new("/img/F/F_0010.jpg"));
        assert_eq!(identity_of(&p.pairs[3].b), "F");
    }

    #[test]
    fn rejects_a_file_shorter_than_its_header() {
        assert!(parse_pairs("2\t1\nA\t1\t2\n", Path::new("/")).is_err());
        assert!(parse_pairs("x\n", Path::new("/")).is_err());
        assert!(parse_pairs("1\t1\nA\t1\n", Path::new("/")).is_err());
    }
}
