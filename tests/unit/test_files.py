"""Landing paths: one suffix list and one expansion for ingest and the ``fits`` data source."""

from __future__ import annotations

import hashlib
import os

import pytest

from astrolake.catalogs.contract import get_catalog
from astrolake.sources import files
from astrolake.sources.files import FITS_SUFFIXES, TEXT_SUFFIXES, LandingError, check_format, expand
from astrolake.sources.fits import FitsSourceError, expand_paths

FITS_NAMES = [f"cat{ext}{packed}" for ext in (".fits", ".fit", ".fts") for packed in ("", ".gz", ".bz2", ".xz")]


def touch(path, content: bytes = b"x") -> str:
    path.write_bytes(content)
    return str(path)


def test_every_fits_suffix_is_in_the_one_list():
    assert sorted(n[len("cat") :] for n in FITS_NAMES) == sorted(FITS_SUFFIXES)
    assert not set(FITS_SUFFIXES) & set(TEXT_SUFFIXES)
    import astrolake.sources.fits as fits_module

    assert fits_module.FITS_SUFFIXES is files.FITS_SUFFIXES  # the data source has no list of its own


@pytest.mark.parametrize("name", FITS_NAMES + [n.upper() for n in FITS_NAMES[:3]])
def test_every_fits_suffix_is_accepted_by_ingest_and_the_data_source(tmp_path, name):
    f = touch(tmp_path / name)
    touch(tmp_path / "notes.txt")
    for entry in (str(tmp_path), str(tmp_path / (name[:3] + "*")), f):
        assert expand(entry, FITS_SUFFIXES) == [f], entry
        assert expand_paths([entry]) == [f], entry
    assert files.is_fits(f)
    check_format(f, get_catalog("sdss_dr7_galaxies").contract)  # a FITS contract takes it
    with pytest.raises(LandingError, match="is a FITS file but contract"):
        check_format(f, get_catalog("sdss_dr14_skyserver").contract)


def test_folders_and_globs_expand_the_same_way(tmp_path):
    names = ["b.fits", "a.fit.gz", "c.fts.xz", "d.fits.bz2"]
    for n in names:
        touch(tmp_path / n)
    touch(tmp_path / ".hidden.fits")  # dot-files are skipped
    touch(tmp_path / "readme.md")  # not a FITS name
    (tmp_path / "sub.fits").mkdir()  # a folder with a FITS-looking name is not a file
    want = [str(tmp_path / n) for n in sorted(names)]
    from_folder = expand(str(tmp_path), FITS_SUFFIXES)
    from_glob = expand(str(tmp_path / "*"), FITS_SUFFIXES)
    assert from_folder == from_glob == want
    assert expand_paths([str(tmp_path)]) == expand_paths([str(tmp_path / "*")]) == want
    # a glob that matches a folder expands it like a folder; file: prefixes are stripped; no duplicates
    inner = tmp_path / "land1"
    inner.mkdir()
    touch(inner / "e.fits")
    assert expand(str(tmp_path / "land?"), FITS_SUFFIXES) == [str(inner / "e.fits")]
    assert expand([f"file:{tmp_path}", want[0]], FITS_SUFFIXES) == want
    assert expand_paths([f"file://{tmp_path}"]) == want
    # text and FITS files of one folder: each list takes its own
    csv = touch(tmp_path / "z.csv")
    assert expand(str(tmp_path), TEXT_SUFFIXES) == [csv]
    assert expand(str(tmp_path)) == sorted(want + [csv])


def test_a_missing_path_is_a_clear_landing_error(tmp_path):
    missing = str(tmp_path / "nope.fits")
    with pytest.raises(LandingError, match=f"no such file or folder: {missing}$"):
        expand([missing], FITS_SUFFIXES)
    with pytest.raises(FitsSourceError, match=f"no such file or folder: {missing}$"):
        expand_paths([missing])
    with pytest.raises(LandingError, match=r"no file matches '.*\*\.fits'"):
        expand(str(tmp_path / "*.fits"), FITS_SUFFIXES)
    touch(tmp_path / "a.csv")
    with pytest.raises(LandingError, match=r"no file matches .*1 match\(es\), none ends in \.fits"):
        expand(str(tmp_path / "a*"), FITS_SUFFIXES)
    with pytest.raises(LandingError, match="only local paths"):
        expand("s3://bucket/cat.fits", FITS_SUFFIXES)


def test_an_empty_folder_is_nothing_to_ingest_but_an_error_for_the_data_source(tmp_path):
    touch(tmp_path / "a.csv")
    assert expand(str(tmp_path), FITS_SUFFIXES) == []
    with pytest.raises(FitsSourceError, match="holds no FITS file"):
        expand_paths([str(tmp_path)])


def test_an_explicit_file_is_kept_whatever_its_name(tmp_path):
    odd = touch(tmp_path / "catalogue.data")
    assert expand(odd, FITS_SUFFIXES) == [odd] == expand_paths([odd])
    with pytest.raises(LandingError, match=r"reads FITS files \(\.fits, "):
        check_format(odd, get_catalog("sdss_dr7_galaxies").contract)
    assert os.path.isabs(expand(os.path.relpath(odd))[0])


def test_survey_all_checks_hashes_and_reads_headers_in_order(tmp_path):
    from astrolake.sources.files import survey_all

    c = get_catalog("sdss_dr14_skyserver").contract
    header = ",".join(c.source_columns)
    paths = []
    for i in range(40):  # more files than threads: the order must still be the given one
        p = tmp_path / f"f{39 - i:02d}.csv"
        p.write_text(("# a comment\n" * (i % 3)) + header + f"\n{i}\n")
        paths.append(str(p))
    out = survey_all(paths, c)
    assert [s.file.path for s in out] == paths
    assert [s.file.sha256 for s in out] == [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]
    assert [s.header.line for s in out] == [i % 3 for i in range(40)]


def test_survey_all_raises_the_first_bad_file_in_order(tmp_path):
    from astrolake.sources.files import survey_all

    c = get_catalog("sdss_dr14_skyserver").contract
    good = tmp_path / "good.csv"
    good.write_text(",".join(c.source_columns) + "\n1\n")
    empty, wrong = tmp_path / "empty.csv", tmp_path / "wrong.csv"
    empty.write_text("")
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(LandingError, match="empty.csv: file is empty"):
        survey_all([str(good), str(empty), str(wrong)], c)
    with pytest.raises(LandingError, match="wrong.csv: missing required column"):
        survey_all([str(good), str(wrong), str(empty)], c)
