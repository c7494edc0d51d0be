"""data/tables.py: CSV and Parquet read defensively, column kinds from the values, every bad table one line."""

from __future__ import annotations

import io

import pytest

pd = pytest.importorskip("pandas")

from ganforge.data.tables import BadTable, TableLimits, align, read_table  # noqa: E402


def test_kinds_are_inferred_from_values_and_missing_values_stay_missing():
    csv = (b"n,x,flag,colour,day\n"
           b"1,2.5,true,red,2020-01-02\n"
           b"2,,FALSE,,2020-01-03T10:00:00\n"
           b"NA,3,True,blue,\n")
    t = read_table(csv, label="t.csv")
    assert t.kinds == {"n": "integer", "x": "continuous", "flag": "boolean", "colour": "categorical", "day": "datetime"}
    assert t.rows == 3
    f = t.frame
    assert f["n"].isna().tolist() == [False, False, True] and f["n"].iloc[1] == 2
    assert f["x"].isna().tolist() == [False, True, False]
    assert f["flag"].tolist() == [True, False, True]
    assert f["colour"].tolist() == ["red", None, "blue"]
    assert f["day"].isna().tolist() == [False, False, True]
    assert str(f["day"].iloc[1]) == "2020-01-03 10:00:00"


def test_parquet_keeps_the_kinds_of_a_csv_round_trip(tmp_path):
    t = read_table(b"a,b,c\n1,x,true\n2,,false\n", label="t.csv")
    path = tmp_path / "t.parquet"
    t.frame.to_parquet(path)
    back = read_table(path)
    assert back.kinds == t.kinds and back.label == "t.parquet" and back.facts["format"] == "Parquet"
    assert back.frame["b"].tolist() == ["x", None]


def test_a_dataframe_is_typed_like_a_file():
    t = read_table(pd.DataFrame({"a": [1, 2, None], "b": ["u", "v", "u"], "c": [True, False, True]}))
    assert t.kinds == {"a": "continuous", "b": "categorical", "c": "boolean"}


def test_mixed_numbers_and_words_are_one_categorical_column():
    t = read_table(b"v\n1\n2\nx\n2\n")
    assert t.kinds["v"] == "categorical"
    assert t.frame["v"].tolist() == ["1", "2", "x", "2"]


def test_a_column_of_one_value_keeps_its_kind():
    t = read_table(b"c,k\n7,a\n7,a\n7,a\n")
    assert t.kinds == {"c": "integer", "k": "categorical"}


def test_ten_thousand_categories_read_as_one_categorical_column():
    body = "\n".join(f"id{i},{i % 3}" for i in range(10_000))
    t = read_table(("code,g\n" + body + "\n").encode())
    assert t.kinds == {"code": "categorical", "g": "integer"}
    assert t.frame["code"].nunique() == 10_000


@pytest.mark.parametrize("data, needle", [
    (b"", "an empty table"),
    (b"\n\n", "an empty table"),
    (b"a,b\n", "header but no rows"),
    (b"a,b\n1,2\n", "1 row; at least 2"),
    (b"a,a\n1,2\n3,4\n", "a name of its own"),
    (b"a,\n1,2\n3,4\n", "a name of its own"),
    (b"a,b\n1,2\n3\n", "row 2 has 1 fields; the header has 2"),
    (b"a\n\xff\xfe\n1\n", "not UTF-8"),
    (b"a\n1\x002\n3\n", "NUL bytes"),
    (b'a,b\n"1,2\n', "not a valid CSV"),
    (b"PAR1 not really", "not a readable Parquet file"),
])
def test_bad_tables_are_one_line_naming_the_table(data, needle):
    with pytest.raises(BadTable) as err:
        read_table(data, label="bad.csv")
    msg = str(err.value)
    assert needle in msg and msg.startswith("bad.csv: ") and "\n" not in msg


def test_limits_on_bytes_rows_and_columns(tmp_path):
    with pytest.raises(BadTable, match="at most 1 MiB"):
        read_table(b"a\n" + b"1\n" * 600_000, limits=TableLimits(max_bytes=2**20))
    with pytest.raises(BadTable, match="more than 3 rows"):
        read_table(b"a\n1\n2\n3\n4\n", limits=TableLimits(max_rows=3))
    with pytest.raises(BadTable, match="3 columns; at most 2"):
        read_table(b"a,b,c\n1,2,3\n4,5,6\n", limits=TableLimits(max_columns=2))
    big = tmp_path / "big.csv"
    big.write_bytes(b"a\n" + b"1\n" * 600_000)
    with pytest.raises(BadTable, match="big.csv: 1.1 MiB; at most 1 MiB"):
        read_table(big, limits=TableLimits(max_bytes=2**20))


def test_unreadable_paths(tmp_path):
    with pytest.raises(BadTable, match="cannot read"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(BadTable, match="is a folder"):
        read_table(tmp_path)


def test_align_takes_the_reference_columns_and_kinds():
    real = read_table(b"a,b,c\n1,x,true\n2,y,false\n", label="real")
    other = read_table(b"c,b,a\n1,x,1.0\n0,z,2.0\n", label="synthetic")  # reordered; 0/1 booleans; 1.0 integers
    out = align(other, real)
    assert out.columns == ["a", "b", "c"] and out.kinds == real.kinds
    assert out.frame["c"].tolist() == [True, False]
    with pytest.raises(BadTable, match="synthetic: lacks 'c' and has extra 'd'"):
        align(read_table(b"a,b,d\n1,x,1\n2,y,2\n", label="synthetic"), real)
    with pytest.raises(BadTable, match="column 'c' must be boolean like in real: 'maybe' is not true or false"):
        align(read_table(b"a,b,c\n1,x,maybe\n2,y,true\n", label="synthetic"), real)
