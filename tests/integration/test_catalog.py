"""The dataset catalog on the running factory: the demo catalog indexed with honest cards;
search, details and listings through the hub's proxy with per-project visibility;
traversal refused in every spelling; restricted data unreadable on the filesystem, also
inside Slurm jobs; malformed datacards reported and skipped; every loader snippet loads
its demo dataset in the kernel environment, as the user."""

import http.client
import json
import shutil
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest

from ..conftest import run

pytestmark = pytest.mark.integration
API = "/services/workbench/api"
DEMO = {"iris", "wine", "breast-cancer-wisconsin", "digits", "python-help-topics"}
RESTRICTED = "breast-cancer-wisconsin"  # demo_restricted_to = sme-vision
PUBLIC = DEMO - {RESTRICTED}


@pytest.fixture(scope="module")
def catalog_command(site):
    return [
        f"{site.factory.prefix}/env/bin/aiworkbench-catalog",
        "--site",
        "/etc/aiworkbench/site.toml",
    ]


def reindex(catalog_command) -> dict:
    return json.loads(run([*catalog_command, "index", "--set-permissions", "--json"]).stdout)


def api(user, route, **params):
    answer = user.session.get(f"{user.hub_url}{API}/{route}", params=params, timeout=30)
    return answer.status_code, answer.json()


def raw_get(user, target: str) -> tuple[int, dict]:
    """GET ``target`` exactly as written (requests would normalise dot segments)."""
    host, port = user.hub_url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(
        "GET", f"{API}/{target}", headers={"Authorization": user.session.headers["Authorization"]}
    )
    response = conn.getresponse()
    body = response.read()
    conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, {"raw": body[:200].decode("latin-1")}


def names(payload) -> set[str]:
    return {item["name"] for item in payload["items"]}


def test_the_demo_catalog_is_indexed_with_honest_cards(site, cluster_up, catalog_command):
    report = reindex(catalog_command)
    assert report["problems"] == [] and report["added"] == [], report
    root = Path(site.catalog.root)
    for name in DEMO:
        card = (root / name / "datacard.toml").read_text()
        assert 'licence = "' in card and "citation = " in card, name
    assert "sme-vision" in (root / RESTRICTED / "datacard.toml").read_text()


def test_users_see_public_data_and_their_projects_only(hub_user):
    student, sme = hub_user("student"), hub_user("sme")  # sme is in sme-vision
    status, everything = api(student, "datasets", per_page="100")
    assert status == 200 and names(everything) >= PUBLIC and RESTRICTED not in names(everything)
    status, mine = api(sme, "datasets", per_page="100")
    assert status == 200 and names(mine) >= DEMO and mine["total"] == everything["total"] + 1
    assert api(student, "datasets", q="breast cancer")[1]["total"] == 0
    assert api(sme, "datasets", q="breast cancer")[1]["total"] == 1
    assert api(student, "datasets", project="sme-vision")[1]["total"] == 0
    for path in (f"datasets/{RESTRICTED}", f"datasets/{RESTRICTED}/files"):
        status, refusal = api(student, path)
        assert status == 404 and "no dataset" in refusal["message"], refusal
        assert api(sme, path)[0] == 200
    status, info = api(student, "catalog")
    assert status == 200 and info["projects"] == ["edu-intro", "sme-trial"]
    assert "sme-vision" not in info["facets"]["project"]
    assert api(sme, "catalog")[1]["facets"]["project"]["sme-vision"] >= 1

    # Filters and paging.
    status, images = api(student, "datasets", modality="image")
    assert status == 200 and "digits" in names(images)
    assert all(item["modality"] == "image" for item in images["items"])
    first, second = (api(student, "datasets", per_page="2", page=p)[1] for p in ("1", "2"))
    assert first["pages"] >= 2 and not names(first) & names(second)
    status, detail = api(student, "datasets/digits")
    assert detail["path"].endswith("/digits") and detail["files"] >= 1797
    status, listing = api(student, "datasets/digits/files")
    assert status == 200 and listing["entries"], listing
    folder = next(e["name"] for e in listing["entries"] if e["kind"] == "dir")
    status, inner = api(student, "datasets/digits/files", path=folder, per_page="3")
    assert status == 200 and inner["path"] == folder and inner["total"] >= 1


@pytest.mark.parametrize(
    "target",
    [
        "datasets/digits/files?path=..",
        "datasets/digits/files?path=../" + RESTRICTED,
        "datasets/digits/files?path=%2e%2e%2f" + RESTRICTED,
        "datasets/digits/files?path=%2Fetc",
        "datasets/digits/files?path=images%2F..%2F..%2F" + RESTRICTED,
        "datasets/digits/files?path=images%5C..%5C..",
        "datasets/digits/files?path=%252e%252e%252f" + RESTRICTED,
        "datasets/..%2F" + RESTRICTED + "/files",
        "datasets/%2e%2e/files",
        "datasets/digits/../" + RESTRICTED + "/files",
        "datasets/digits/files?path=%00",
    ],
)
def test_traversal_is_refused_in_every_spelling(hub_user, target):
    student = hub_user("student")
    status, answer = raw_get(student, target)
    assert status in (400, 404), (status, answer)
    assert RESTRICTED not in json.dumps(answer.get("entries", [])), answer


def test_a_link_out_of_a_dataset_is_never_listed(site, hub_user, catalog_command):
    student = hub_user("student")
    link = Path(site.catalog.root) / "iris" / f"escape-{uuid.uuid4().hex[:6]}"
    link.symlink_to(Path(site.catalog.root) / RESTRICTED)
    try:
        reindex(catalog_command)
        status, listing = api(student, "datasets/iris/files")
        assert status == 200 and link.name not in {e["name"] for e in listing["entries"]}
        status, refusal = api(student, "datasets/iris/files", path=link.name)
        assert status == 404, refusal
    finally:
        link.unlink()
        reindex(catalog_command)


def test_restricted_data_is_unreadable_on_the_filesystem_and_in_jobs(site, cluster_up):
    folder = Path(site.catalog.root) / RESTRICTED
    data = next(p for p in folder.iterdir() if p.name != "datacard.toml")
    # Nobody lists the catalog's folder (names come from the API); public data is
    # readable, the restricted dataset's folder is closed to others.
    assert run(["ls", site.catalog.root], user="student", check=False).returncode != 0
    assert (
        run(["head", "-c", "5", f"{site.catalog.root}/iris/iris.csv"], user="student").stdout
        == "sepal"
    )
    denied = run(["cat", str(data)], user="student", check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    assert run(["ls", str(folder)], user="student", check=False).returncode != 0
    assert run(["cat", str(folder / "datacard.toml")], user="student", check=False).returncode != 0
    assert run(["head", "-c", "4", str(data)], user="sme").stdout == "PAR1"
    # Sessions are Slurm jobs: the same holds there (the job gets the user's groups).
    job = ["srun", "--partition=cpu", "--time=1", "--chdir=/tmp", "head", "-c", "4", str(data)]
    inside = run(
        [*job[:1], "--account=edu-intro", *job[1:]], user="student", check=False, timeout=120
    )
    assert inside.returncode != 0 and "Permission denied" in inside.stderr, inside.stderr
    assert (
        run([*job[:1], "--account=sme-vision", *job[1:]], user="sme", timeout=120).stdout == "PAR1"
    )


def test_malformed_datacards_are_reported_and_the_rest_is_kept(site, catalog_command, hub_user):
    root = Path(site.catalog.root)
    broken = root / f"broken-{uuid.uuid4().hex[:6]}"
    broken.mkdir()
    (broken / "datacard.toml").write_text(
        f'name = "{broken.name}"\ntitle = "Broken"\ndescription = "x"\nowner = "ops"\n'
        'licence = "MIT"\nmodality = "pictures"\nformat = "csv"\naccess = "public"\n'
    )
    try:
        report = reindex(catalog_command)
        assert report["problems"] == [
            f"{broken}/datacard.toml: modality: 'pictures' is not allowed; allowed: "
            "tabular, image, text, audio, video, timeseries, other"
        ], report
        assert report["removed"] == [] and report["unchanged"] >= len(DEMO)
        status, found = api(hub_user("student"), "datasets", per_page="100")
        assert names(found) >= PUBLIC and broken.name not in names(found)
    finally:
        shutil.rmtree(broken)
    assert reindex(catalog_command)["problems"] == []


def test_bad_parameters_get_what_is_allowed(hub_user):
    student = hub_user("student")
    for params, words in [
        ({"modality": "pictures"}, "one of tabular, image"),
        ({"per_page": "0"}, "from 1 to 100"),
        ({"page": "two"}, "a whole number"),
        ({"colour": "red"}, "allowed: q ("),
        ({"q": "x" * 201}, "at most 200"),
        ({"tag": "<script>"}, "tag '<script>': use 1-40 lower-case"),
    ]:
        status, answer = api(student, "datasets", **params)
        assert status == 400 and words in answer["message"], (params, answer)
    status, answer = api(student, "datasets/digits/files", per_page="1001")
    assert status == 400 and "from 1 to 1000" in answer["message"]
    status, answer = api(student, "datasets/Not_A_Name")
    assert status == 400 and "dataset name 'Not_A_Name': use 1-64 lower-case" in answer["message"]


# Run as a script, guarded: dask's process pool starts fresh interpreters that import
# the main module again (a notebook's kernel has no such module).
LOADER_CHECK = textwrap.dedent("""\
    import json, sys
    from aiworkbench.catalog.snippets import snippet
    if __name__ == "__main__":
        details = json.load(open(sys.argv[1]))
        library = sys.argv[2]
        for detail in details:
            code = snippet(detail, library)
            exec(compile(code, f"<{library} snippet for {detail['name']}>", "exec"), {})
            print("LOADED", detail["name"])
    """)


@pytest.mark.parametrize("library", ["pandas", "torch", "datasets", "dask"])
def test_every_snippet_loads_its_demo_dataset(site, hub_user, library):
    sme = hub_user("sme")  # sees every demo dataset, the restricted one included
    details = [api(sme, f"datasets/{name}")[1] for name in sorted(DEMO)]
    here = Path(tempfile.mkdtemp(prefix="snippets-"))  # readable by sme
    here.chmod(0o755)
    spec, script = here / "details.json", here / "check.py"
    spec.write_text(json.dumps(details))
    script.write_text(LOADER_CHECK)
    done = run(
        [
            "env",
            "HOME=/home/sme",
            "HF_HUB_OFFLINE=1",
            f"{site.factory.prefix}/env/bin/python",
            str(script),
            str(spec),
            library,
        ],
        user="sme",
        check=False,
        timeout=600,
    )
    shutil.rmtree(here)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("LOADED ")]
    assert sorted(loaded) == sorted(DEMO), done.stdout[-2000:]


WIDGET_CHECK = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    from aiworkbench.catalog.preview import preview_file
    from aiworkbench.catalog.widget import CatalogModel
    restricted = Path(sys.argv[1])
    model = CatalogModel()
    out = {"catalog": model.load_catalog(), "search": model.search("digits")}
    out["names"] = [i["name"] for i in model.results["items"]]
    out["open_restricted"] = model.open(restricted.parent.name)
    out["open_restricted_status"] = model.status
    out["open"] = model.open("iris")
    refused = {}
    for path in ["../" + restricted.parent.name + "/" + restricted.name, str(restricted),
                 "..%2f..", "a/../../b"]:
        model.preview_error = ""
        refused[path] = (model.show_file(path), model.preview_error)
    out["refused"] = refused
    out["shown"] = (model.show_file("iris.csv"), model.preview.kind, model.preview.title)
    direct = preview_file(restricted)
    out["direct"] = (direct.kind, direct.note)
    print(json.dumps(out))
    """)


def test_the_widget_as_the_user_refuses_traversal_and_cannot_read_restricted_data(
    site, hub_user, hub_url
):
    student = hub_user("student")
    restricted = Path(site.catalog.root) / RESTRICTED / f"{RESTRICTED}.parquet"
    token = student.session.headers["Authorization"].split()[1]
    done = run(
        [
            "env",
            f"AIWORKBENCH_API_URL={hub_url}{API}",
            f"JUPYTERHUB_API_TOKEN={token}",
            "HOME=/home/student",
            f"{site.factory.prefix}/env/bin/python",
            "-c",
            WIDGET_CHECK,
            str(restricted),
        ],
        user="student",
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["catalog"] and out["search"] and "digits" in out["names"]
    assert not out["open_restricted"] and "no dataset" in out["open_restricted_status"]
    assert out["open"]
    for path, (shown, why) in out["refused"].items():
        assert not shown and why, (path, why)
    assert "'..'" in out["refused"]["a/../../b"][1]
    assert "absolute" in out["refused"][str(restricted)][1]
    assert out["shown"][:2] == [True, "table"] and "150" in out["shown"][2]
    assert out["direct"][0] == "none" and "permission denied" in out["direct"][1].lower()
