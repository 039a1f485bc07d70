"""Your own contracts and catalogs: folders beside the built-in ones, clashes, drafts (no JVM)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table

from astrolake.catalogs import contract
from astrolake.catalogs.contract import ContractError, catalogs, get_catalog, use_catalog_folders
from astrolake.catalogs.draft import draft

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalogs"


@pytest.fixture(autouse=True)
def _no_user_folders(monkeypatch):
    """Each test starts with only the built-in catalogs, and leaves them so."""
    monkeypatch.delenv(contract.CATALOGS_ENV, raising=False)
    saved = list(contract._registered)
    contract._registered.clear()
    yield
    contract._registered[:] = saved


def test_the_example_folder_adds_its_catalogs_beside_the_built_in_ones(monkeypatch):
    built_in = set(catalogs())
    assert "sdss_dr14_fields" not in built_in
    monkeypatch.setenv(contract.CATALOGS_ENV, str(EXAMPLES))
    cats = catalogs()
    assert set(cats) == built_in | {"sdss_dr14_fields", "ps1_dr1_fields"}
    ps1 = get_catalog("ps1_dr1_fields")
    assert ps1.origin == str(EXAMPLES.resolve()) and cats["sdss_dr14_skyserver"].origin == "built-in"
    assert ps1.contract.key == ("objid",) and ps1.contract.column("err_g").sentinels == (-999.0,)
    assert ps1.contract.column("ra").source == "raMean"


def test_a_catalog_or_contract_name_used_twice_is_an_error(tmp_path):
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "catalogs.yaml").write_text(
        "sdss_dr14_skyserver:\n  contract: skyserver_csv\n  data_release: DR14\n  description: mine\n"
    )
    use_catalog_folders(str(clash))
    with pytest.raises(ContractError, match="catalog 'sdss_dr14_skyserver' is defined twice: in built-in and in"):
        catalogs()
    contract._registered.clear()
    twice = tmp_path / "twice"
    twice.mkdir()
    (twice / "skyserver_csv.yaml").write_text((contract.HERE / "skyserver_csv.yaml").read_text())
    use_catalog_folders([twice])
    with pytest.raises(ContractError, match="contract 'skyserver_csv' is defined twice"):
        catalogs()


def test_a_missing_folder_and_a_bad_name_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ContractError, match="catalog folder not found: .*nowhere"):
        use_catalog_folders(str(tmp_path / "nowhere"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "catalogs.yaml").write_text("my-survey:\n  contract: skyserver_csv\n  data_release: x\n  description: y\n")
    monkeypatch.setenv(contract.CATALOGS_ENV, str(bad))
    with pytest.raises(ContractError, match="catalog name 'my-survey' must be letters, digits and _"):
        catalogs()


def _use_draft(tmp_path: Path, text: str, name: str):
    """Save a draft in a catalogs folder of its own and load it as astrolake would."""
    folder = tmp_path / "cats"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    (folder / "catalogs.yaml").write_text(
        f"drafted:\n  contract: {name}\n  data_release: test\n  description: a drafted catalog\n"
    )
    use_catalog_folders([folder])
    return get_catalog("drafted").contract


def test_a_csv_draft_guesses_types_sentinels_key_and_position(tmp_path):
    f = tmp_path / "field.csv.gz"
    with gzip.open(f, "wt") as fh:
        fh.write("#Table1\nobjID,raMean,decMean,gMag,gMagErr,name\n")
        fh.write("106301772306797903,177.2,-1.4,13.2,-999,a\n106261794227703864,179.4,-1.45,15.2,0.002,b\n")
    text = draft(str(f))
    c = _use_draft(tmp_path, text, "field_contract")
    assert c.key == ("objid",) and c.position == ("ramean", "decmean")
    types = {col.source: col.type for col in c.columns}
    assert types == {
        "objID": "long",
        "raMean": "double",
        "decMean": "double",
        "gMag": "double",
        "gMagErr": "double",
        "name": "string",
    }
    assert c.column("gmagerr").sentinels == (-999.0,) and c.column("gmag").sentinels == ()
    assert c.column("ramean").range is not None and "TODO" in text


def test_an_ecsv_draft_keeps_datatypes_units_and_descriptions(tmp_path):
    t = Table({"source_id": np.array([1, 2], dtype=np.int64), "ra": [1.0, 2.0], "phot_g_mean_mag": [12.0, 13.0]})
    t["ra"].unit, t["ra"].description = "deg", "Right ascension"
    t["phot_g_mean_mag"].unit = "mag"
    f = tmp_path / "gaia.ecsv"
    t.write(f, format="ascii.ecsv", delimiter=",")
    c = _use_draft(tmp_path, draft(str(f), name="gaia_ecsv"), "gaia_ecsv")
    assert [(col.source, col.type, col.unit) for col in c.columns] == [
        ("source_id", "long", None),
        ("ra", "double", "deg"),
        ("phot_g_mean_mag", "double", "mag"),
    ]
    assert c.column("ra").description == "Right ascension" and c.key == ("source_id",)


def test_a_fits_draft_reads_tform_tunit_and_tnull(tmp_path):
    cols = [
        fits.Column(name="OBJID", format="K", array=np.array([1, 2]), null=-1),
        fits.Column(name="RA", format="D", unit="deg", array=np.array([1.0, 2.0])),
        fits.Column(name="DEC", format="E", unit="deg", array=np.array([1.0, 2.0])),
        fits.Column(name="FLAG", format="I", array=np.array([0, 1])),
    ]
    f = tmp_path / "t.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(f)
    doc = yaml.safe_load(draft(str(f)))
    assert doc["format"] == "fits" and doc["key"] == ["objid"] and doc["position"] == ["ra", "dec"]
    by = {c["source"]: c for c in doc["columns"]}
    assert by["OBJID"]["type"] == "long" and by["OBJID"]["sentinels"] == [-1]
    assert by["RA"]["unit"] == "deg" and by["DEC"]["type"] == "double" and by["FLAG"]["type"] == "int"


def test_the_cli_lists_origins_drafts_and_refuses_a_missing_folder(tmp_path, capsys):
    from astrolake.cli import main

    assert main(["catalogs", "--catalogs", str(EXAMPLES)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["ps1_dr1_fields"].endswith(f"[{EXAMPLES.resolve()}]")
    assert lines["sdss_dr14_skyserver"].endswith("[built-in]")

    f = tmp_path / "x.csv"
    f.write_text("id,ra,dec\n1,10.0,-5.0\n")
    out = tmp_path / "x.yaml"
    assert main(["contract", "draft", str(f), "--name", "x_csv", "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["name"] == "x_csv"

    assert main(["catalogs", "--catalogs", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.strip().endswith(f"catalog folder not found: {tmp_path / 'nowhere'}")


def test_a_parquet_draft_reads_the_schema_and_field_metadata(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            pa.field("diaObjectId", pa.int64()),
            pa.field("ra", pa.float64(), metadata={"unit": "deg", "description": "Right ascension"}),
            pa.field("dec", pa.float64(), metadata={"unit": "deg"}),
            pa.field("nDiaSources", pa.int32()),
            pa.field("band", pa.string()),
        ]
    )
    f = tmp_path / "objects.parquet"
    pq.write_table(pa.table({n: [] for n in schema.names}, schema=schema), f)
    c = _use_draft(tmp_path, draft(str(f), name="rubin_objects"), "rubin_objects")
    assert [(col.source, col.type, col.unit) for col in c.columns] == [
        ("diaObjectId", "long", None),
        ("ra", "double", "deg"),
        ("dec", "double", "deg"),
        ("nDiaSources", "int", None),
        ("band", "string", None),
    ]
    assert c.column("ra").description == "Right ascension" and c.position == ("ra", "dec")
