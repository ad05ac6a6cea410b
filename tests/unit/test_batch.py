"""evergreen.batch: cutting an upload into chunks at line boundaries, reading a chunk's rows (bad rows
rejected with their line numbers and why), and scoring them as /predict scores the same records."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from evergreen import batch, storage
from evergreen.onnx_model import OnnxModel
from evergreen.serving import float32
from evergreen.serving.feeds import build_feeds


def plan(data: bytes, chunk_rows: int, block: int | None = None, max_chunks: int = batch.MAX_CHUNKS,
         start: int = 0, first_line: int = 2) -> batch.ChunkPlanner:
    planner = batch.ChunkPlanner(start, first_line, chunk_rows, max_chunks)
    block = block or max(len(data), 1)
    for i in range(start, len(data), block):
        planner.feed(data[i:i + block])
    return planner


def lines_of(data: bytes, chunk: batch.Chunk) -> list[bytes]:
    return data[chunk.start:chunk.end].splitlines(keepends=True)


# --------------------------------------------------------------------------- where files live


@pytest.mark.parametrize("key,expected", [
    ("score/demo/data.csv", ("demo", "data.csv")),
    ("score/demo/2026/jan.csv", ("demo", "2026/jan.csv")),
    ("score/demo/", None),
    ("score/demo/folder/", None),
    ("score//data.csv", None),
    ("scored/demo/data.csv/predictions.csv", None),
    ("uploads/demo/data.csv", None),
])
def test_model_and_name_of_a_key(key, expected):
    assert storage.model_and_name(key) == expected


def test_outputs_are_never_under_the_prefix_that_triggers_scoring():
    out = storage.output_prefix("demo", "data.csv")
    assert out == "scored/demo/data.csv/" and not out.startswith(storage.SCORE_PREFIX)
    work = storage.work_prefix("demo", "b-1")
    assert storage.part_key(work, 3, "predictions") == "batch/demo/b-1/parts/000003.predictions.csv"
    assert storage.manifest_key(work) == "batch/demo/b-1/manifest.json"


# --------------------------------------------------------------------------- planning


def test_data_start_is_just_past_the_header_line():
    head = b"\n\na,b\n1,2\n"
    assert batch.data_start(head, 3) == head.index(b"1,2")
    assert batch.data_start(b"a,b", 1) is None


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("block", [1, 7, 64, None])
def test_chunks_cut_at_line_boundaries_whatever_the_blocks(ending, block):
    lines = [f"{i},{i * 2}".encode() + ending for i in range(23)]
    data = b"".join(lines)
    chunks = plan(data, chunk_rows=5, block=block).chunks()
    assert [c.index for c in chunks] == list(range(5))
    assert b"".join(data[c.start:c.end] for c in chunks) == data  # nothing lost, nothing twice
    for c in chunks:
        got = lines_of(data, c)
        assert got == lines[c.first_line - 2:c.first_line - 2 + len(got)]  # first_line is the line number
        assert data[c.end - 1:c.end] == b"\n"
        assert len(got) == (5 if c.index < 4 else 3)


def test_a_last_line_without_a_line_break_is_in_the_last_chunk():
    data = b"1,2\n3,4\n5,6\n7,8"
    chunks = plan(data, chunk_rows=2).chunks()
    assert [(c.start, c.end, c.first_line) for c in chunks] == [(0, 8, 2), (8, 15, 4)]
    assert data[chunks[-1].start:chunks[-1].end] == b"5,6\n7,8"


def test_a_file_ending_on_a_chunk_boundary_has_no_empty_chunk():
    data = b"1\n2\n3\n4\n"
    assert [(c.start, c.end) for c in plan(data, chunk_rows=2).chunks()] == [(0, 4), (4, 8)]
    assert plan(b"", chunk_rows=2).chunks() == []


def test_offsets_are_the_uploads_own_after_the_header():
    upload = b"a,b\n1,2\n3,4\n5,6\n"
    start = upload.index(b"1,2")
    chunks = plan(upload, chunk_rows=2, start=start).chunks()
    assert [upload[c.start:c.end] for c in chunks] == [b"1,2\n3,4\n", b"5,6\n"]
    assert [c.first_line for c in chunks] == [2, 4]


def test_too_many_chunks_double_the_chunk_size():
    data = b"".join(b"%d\n" % i for i in range(100))
    planner = plan(data, chunk_rows=3, block=10, max_chunks=8)
    chunks = planner.chunks()
    assert len(chunks) <= 8 and planner.chunk_rows == 24  # 3 -> 6 -> 12 -> 24
    assert all(len(lines_of(data, c)) == 24 for c in chunks[:-1])
    assert [c.first_line for c in chunks] == [2 + 24 * i for i in range(len(chunks))]
    assert b"".join(data[c.start:c.end] for c in chunks) == data


def test_a_file_with_quotes_is_one_chunk():
    data = b'1,"a\nb"\n2,c\n' * 10
    planner = plan(data, chunk_rows=2, block=5)
    assert planner.quoted
    assert [(c.start, c.end, c.first_line) for c in planner.chunks()] == [(0, len(data), 2)]


def test_chunk_rows_must_be_positive():
    with pytest.raises(ValueError, match="chunk_rows"):
        batch.ChunkPlanner(0, 2, 0)


# --------------------------------------------------------------------------- reading a chunk's rows

NAMES = ["age", "plan", "note"]


def unquoted(raw: bytes, first_line: int = 2) -> batch.ChunkRows:
    return batch.unquoted_rows(NAMES, raw, first_line, ",", categorical=["plan"], source="s3://b/score/m/f.csv")


def test_bad_rows_are_rejected_with_their_line_numbers_and_the_good_ones_kept():
    raw = (b"30,pro,x\n"          # 2
           b"31,basic\n"          # 3: too few fields
           b"\n"                  # 4: blank, not a row
           b"32,plus,y,extra\n"   # 5: too many
           b"33,pro,caf\xe9\n"    # 6: Latin-1, not UTF-8
           b"34,p\x00ro,z\n"      # 7: NUL
           b"   \n"               # 8: blank
           b"35,basic,w")         # 9: no final line break
    rows = unquoted(raw)
    assert rows.row_ids.tolist() == [2, 9]
    assert rows.table.columns["plan"].cells(np.arange(2)) == ["pro", "basic"]
    assert [(r.row_id, r.reason) for r in rows.rejected] == [
        (3, "has 2 fields, the header has 3"),
        (5, "has 4 fields, the header has 3"),
        (6, "is not UTF-8 text (invalid byte at column 11)"),
        (7, "holds a NUL byte (binary data?)"),
    ]


def test_crlf_lines_read_as_lf_lines():
    lf, crlf = unquoted(b"30,pro,x\n31,basic,y\n"), unquoted(b"30,pro,x\r\n31,basic,y\r\n\r\n")
    assert lf.row_ids.tolist() == crlf.row_ids.tolist() == [2, 3]
    for name in NAMES:
        assert lf.table.texts(name).cells(np.arange(2)) == crlf.table.texts(name).cells(np.arange(2))


def test_categorical_columns_stay_text_and_a_chunk_of_bad_rows_has_no_table():
    rows = unquoted(b"30,007,x\n")
    assert rows.table.columns["plan"].values == ["007"]
    bad = unquoted(b"1\n2\n", first_line=40)
    assert bad.table is None and [r.row_id for r in bad.rejected] == [40, 41]


def test_quoted_records_keep_the_line_they_start_on():
    raw = (b'30,pro,"a, b"\n'          # 2
           b'31,basic,"two\nlines"\n'  # 3-4
           b'32,"plus"\n'              # 5: too few fields
           b'\n'                       # 6: blank
           b'33,pro,"caf\xe9"\n'       # 7: not UTF-8
           b'34,pro,"open\n')          # 8: a quote never closed
    rows = batch.quoted_rows(NAMES, raw, 2, ",")
    assert rows.row_ids.tolist() == [2, 3]
    assert rows.table.texts("note").cells(np.arange(2)) == ["a, b", "two\nlines"]
    assert [(r.row_id, r.reason.split(":")[0]) for r in rows.rejected] == [
        (5, "has 2 fields, the header has 3"), (7, "is not UTF-8 text"), (8, "is not CSV")]


def test_header_line_and_names_round_trip():
    line = batch.header_line(["a", "b;c", 'd"'], ";")
    assert line == b'a;"b;c";"d"""\n'
    assert batch.header_names(b"\xef\xbb\xbf a ,b\n1,2\n", ",", "s3://x") == ["a", "b"]


# --------------------------------------------------------------------------- scoring


@pytest.fixture(scope="module")
def classifier():
    from tests.support.tiny_model import train_classifier

    tiny = train_classifier()
    cols = tiny.columns
    return OnnxModel(tiny.onnx_bytes, numeric=cols["numeric"], categorical=cols["categorical"], classes=cols["classes"])


@pytest.fixture(scope="module")
def regressor():
    from tests.support.tiny_model import train_regressor

    tiny = train_regressor()
    cols = tiny.columns
    return OnnxModel(tiny.onnx_bytes, numeric=cols["numeric"], categorical=cols["categorical"], classes=None)


TINY_HEADER = ["id", "age", "income", "plan", "region"]


def tiny_rows(raw: bytes) -> batch.ChunkRows:
    return batch.unquoted_rows(TINY_HEADER, raw, 2, ",", categorical=["plan", "region"], source="s3://b/k")


def test_invalid_cells_reject_their_row_naming_each_cell():
    rows = tiny_rows(b"1,40,50000,pro,north\n"
                     b"2,forty,50000,pro,north\n"
                     b"3,1e400,x," + b"p" * 1100 + b",south\n"
                     b"4,NA,,basic,?\n")
    feeds = batch.model_feeds(rows, ["age", "income"], ["plan", "region"])
    assert feeds.row_ids.tolist() == [2, 5]
    assert [(r.row_id, r.reason) for r in feeds.rejected] == [
        (3, 'age is not a number, got "forty"'),
        (4, 'age is out of range for a float32 feature, got "1e400"; income is not a number, got "x"; '
            'plan is longer than 1024 characters, got "' + "p" * 36 + "..."),  # values are cut short
    ]
    assert feeds.inputs["numeric"].dtype == np.float32 and feeds.inputs["numeric"].shape == (2, 2)
    assert np.isnan(feeds.inputs["numeric"][1]).all()  # NA and "" are missing
    assert feeds.inputs["categorical"].tolist() == [["pro", "north"], ["basic", ""]]


def records_of(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode())))


def test_a_chunk_scores_exactly_as_predict_scores_the_same_records(classifier):
    from tests.support.tiny_model import synthetic_records

    records, _, _ = synthetic_records(300, seed=4)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, r in enumerate(records):
        writer.writerow([i, *("" if r[c] is None else r[c] for c in TINY_HEADER[1:])])
    raw = out.getvalue().encode()
    scored = batch.score_rows(tiny_rows(raw), classifier, 7, ["age", "income"], ["plan", "region"])
    assert scored.scored_rows == 300 and scored.rejected_rows == 0 and scored.rejected == b""

    # /predict: the request's JSON values (here the CSV's texts) through serving's feeds and the same model
    texts = [dict(zip(TINY_HEADER, row)) for row in csv.reader(io.StringIO(raw.decode()))]
    feeds = build_feeds(texts, ["age", "income"], ["plan", "region"])
    out = classifier.run(feeds.numeric, feeds.categorical)
    expected = [[str(i + 2), "7", label, *map(repr, p)] for i, (label, p) in
                enumerate(zip(out.labels.tolist(), float32.shortest(out.probabilities).tolist()))]
    got = list(csv.reader(io.StringIO(scored.predictions.decode())))
    assert got == expected
    # and the numbers read back as the JSON the API answers with
    assert json.loads(json.dumps(float32.shortest(out.probabilities)[0].tolist())) == [float(v) for v in got[0][3:]]


def test_chunked_scoring_equals_scoring_the_file_whole(classifier):
    from tests.support.tiny_model import synthetic_records

    records, _, _ = synthetic_records(101, seed=5)
    body = "".join(f"{i},{'' if r['age'] is None else r['age']},{r['income']},{r['plan']},{r['region'] or ''}\n"
                   for i, r in enumerate(records))
    body = body.replace("\n", "\nbad,row\n", 3).encode()  # three bad rows early on
    whole = batch.score_rows(tiny_rows(body), classifier, 1, ["age", "income"], ["plan", "region"])
    parts = []
    for chunk in plan(body, chunk_rows=17, block=50).chunks():
        rows = batch.unquoted_rows(TINY_HEADER, body[chunk.start:chunk.end], chunk.first_line, ",",
                                   categorical=["plan", "region"], source="s3://b/k")
        parts.append(batch.score_rows(rows, classifier, 1, ["age", "income"], ["plan", "region"]))
    assert b"".join(p.predictions for p in parts) == whole.predictions
    assert b"".join(p.rejected for p in parts) == whole.rejected == b"3,\"has 2 fields, the header has 5\"\n" \
        b"5,\"has 2 fields, the header has 5\"\n7,\"has 2 fields, the header has 5\"\n"
    assert sum(p.scored_rows for p in parts) == 101


def test_regression_predictions_are_the_float32_values_predict_answers(regressor):
    rows = tiny_rows(b"1,40,50000,pro,north\n2,,30000,basic,\n")
    scored = batch.score_rows(rows, regressor, 2, ["age", "income"], ["plan", "region"])
    got = list(csv.reader(io.StringIO(scored.predictions.decode())))
    feeds = build_feeds([{"age": "40", "income": "50000", "plan": "pro", "region": "north"},
                         {"age": "", "income": "30000", "plan": "basic", "region": ""}],
                        ["age", "income"], ["plan", "region"])
    values = float32.shortest(regressor.run(feeds.numeric, feeds.categorical).labels).tolist()
    assert got == [["2", "2", repr(values[0])], ["3", "2", repr(values[1])]]


def test_predictions_are_made_in_batches_of_rows(classifier):
    rows = tiny_rows(b"".join(b"%d,%d,40000,pro,north\n" % (i, 20 + i % 50) for i in range(25)))
    feeds = batch.model_feeds(rows, ["age", "income"], ["plan", "region"])
    one = batch.predict(classifier, feeds.inputs, 25)
    small = batch.predict(classifier, feeds.inputs, 25, batch_rows=4)
    # onnxruntime's matrix kernels block by batch size: the outputs may differ in the last float32 bits
    assert one[0].tolist() == small[0].tolist()
    np.testing.assert_allclose(one[1], small[1], rtol=0, atol=1e-6)
    labels, probabilities = batch.predict(classifier, {}, 0)
    assert labels.size == 0 and probabilities is None


def test_output_headers_and_labels_that_need_quoting():
    assert batch.prediction_header(["no", "yes"]) == ["row_id", "model_version", "prediction", "probability_no",
                                                      "probability_yes"]
    assert batch.prediction_header(None) == ["row_id", "model_version", "prediction"]
    assert batch.csv_line(['a,b', "c"]) == b'"a,b",c\n'
    body = batch.predictions_csv(np.array([2, 3]), 1, np.array(["a,b", "c"], dtype=object),
                                 np.array([[0.9, 0.1], [0.25, 0.75]], dtype=np.float32))
    assert body == b'2,1,"a,b",0.9,0.1\n3,1,c,0.25,0.75\n'
    assert batch.rejected_csv([batch.Rejected(4, 'age is not a number, got "x"')]) == \
        b'4,"age is not a number, got ""x"""\n'
