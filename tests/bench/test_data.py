"""Loading every MovieLens layout, and what the loader says about bad data.

Each test writes a few lines in the layout it exercises, as they appear in the real files.
"""

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from bench.data import (
    DATASETS_DIR,
    Interactions,
    downloadable,
    load_dataset,
    movielens,
    movielens_movies,
    movielens_ratings,
    read_ratings,
    verify_checksums,
)
from bench.errors import BenchError

# stored results are keyed on this: a loader change must never move it
EMBEDDED_DIGEST = "993ce32744c4757a1ea80fed9ab22d3af1a4b2be3bea3d3b1e0bc000396fac06"


def write(folder, name, text, encoding="utf-8"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))
    return folder / name


def load_quietly(name, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(name, path)


def raw_triples(data: Interactions) -> list[tuple[int, int, float]]:
    """(raw user id, raw movie id, rating) of every interaction, in the loader's order."""
    return [
        (int(data.user_ids[u]), int(data.item_ids[i]), float(r))
        for u, i, r in zip(data.users, data.items, data.ratings, strict=True)
    ]


# --------------------------------------------------------------------- the embedded dataset


def test_embedded_dataset_has_the_documented_size(movielens):
    assert (len(movielens), movielens.n_users, movielens.n_items) == (100_836, 610, 9_724)
    assert movielens.ratings.min() == 0.5 and movielens.ratings.max() == 5.0


def test_embedded_digest_is_unchanged(movielens):
    assert movielens.digest == EMBEDDED_DIGEST


def test_indices_are_contiguous_and_map_back_to_raw_ids(movielens):
    assert movielens.users.min() == 0 and movielens.users.max() == movielens.n_users - 1
    assert np.unique(movielens.items).size == movielens.n_items
    # first line of ratings.csv: userId 1, movieId 1, 4.0, 964982703
    first = (movielens.user_ids[movielens.users] == 1) & (movielens.item_ids[movielens.items] == 1)
    assert movielens.ratings[first].tolist() == [4.0]
    assert movielens.timestamps[first].tolist() == [964982703]


def test_compact_dtypes(movielens):
    assert movielens.users.dtype == np.int32 and movielens.items.dtype == np.int32
    assert movielens.ratings.dtype == np.float32 and movielens.timestamps.dtype == np.int64


def test_titles_and_genres_per_item(movielens):
    toy_story = int(np.flatnonzero(movielens.item_ids == 1)[0])
    assert movielens.movies.loc[toy_story, "title"] == "Toy Story (1995)"
    assert "Animation" in movielens.movies.loc[toy_story, "genres"]


def test_embedded_tags_point_at_rated_users_and_movies(movielens):
    # tags.csv line 2: 2,60756,funny,1445714994
    tags = movielens.tags
    assert list(tags.columns) == ["user", "item", "tag", "timestamp"]
    assert tags["user"].dtype == np.int32 and tags["item"].dtype == np.int32
    assert 0 < len(tags) <= 3_683  # tags.csv has 3,683 lines; those of unrated movies are dropped
    funny = tags[tags["tag"] == "funny"]
    pairs = set(
        zip(movielens.user_ids[funny["user"]], movielens.item_ids[funny["item"]], strict=True)
    )
    assert (2, 60756) in pairs


def copy_dataset(tmp_path):
    shutil.copytree(DATASETS_DIR / "ml-latest-small", tmp_path / "ml-latest-small")
    shutil.copy(DATASETS_DIR / "SHA256SUMS", tmp_path / "SHA256SUMS")
    return tmp_path / "ml-latest-small"


def test_checksum_mismatch_is_detected(tmp_path):
    folder = copy_dataset(tmp_path)
    verify_checksums(folder)
    with open(folder / "ratings.csv", "a") as fh:
        fh.write("1,1,5.0,0\n")
    with pytest.raises(BenchError, match="does not match its SHA-256"):
        verify_checksums(folder)


def test_unknown_dataset_name():
    with pytest.raises(BenchError, match="unknown dataset 'ml-nope'; available: .*ml-1m"):
        load_dataset("ml-nope")


def test_every_release_is_registered():
    assert downloadable() == [
        "ml-100k",
        "ml-10m",
        "ml-1m",
        "ml-20m",
        "ml-25m",
        "ml-32m",
        "ml-latest",
    ]


def test_a_folder_with_no_ratings_file_names_the_expected_files(tmp_path):
    write(tmp_path, "README.txt", "nothing here")
    with pytest.raises(BenchError, match="no MovieLens ratings file .*u.data.*ratings.dat"):
        load_dataset("local", tmp_path)


# --------------------------------------------------------------------- the four layouts

U_ITEM = (
    "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"
    "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|GoldenEye (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?GoldenEye%20(1995)"
    "|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"
    "3|Cité des enfants perdus, La (1995)|01-Jan-1995||http://us.imdb.com/x"
    "|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
)


def test_100k_layout_with_titles_and_genre_flags(tmp_path):
    # u.data: user id | item id | rating | timestamp, tab-separated, no header
    write(tmp_path, "u.data", "196\t1\t3\t881250949\n186\t2\t3\t891717742\n196\t2\t5\t881251000\n")
    write(tmp_path, "u.item", U_ITEM, encoding="latin-1")
    data = load_quietly("local", tmp_path)
    assert raw_triples(data) == [(186, 2, 3.0), (196, 1, 3.0), (196, 2, 5.0)]
    assert data.movies["title"].tolist() == ["Toy Story (1995)", "GoldenEye (1995)"]
    # without u.genre the 19 known names are used, in flag order
    assert data.movies["genres"].tolist() == [
        "Animation|Children's|Comedy",
        "Action|Adventure|Thriller",
    ]
    assert len(data.tags) == 0 and list(data.tags.columns) == ["user", "item", "tag", "timestamp"]


def test_100k_genre_names_come_from_u_genre(tmp_path):
    write(tmp_path, "u.data", "1\t3\t4\t881250949\n1\t1\t5\t881250950\n")
    write(tmp_path, "u.item", U_ITEM, encoding="latin-1")
    names = "|".join(movielens_movies.GENRES_100K).replace("Children's", "Kids").split("|")
    write(tmp_path, "u.genre", "".join(f"{n}|{i}\n" for i, n in enumerate(names)) + "\n")
    data = load_quietly("local", tmp_path)
    assert data.movies["genres"].tolist() == ["Animation|Kids|Comedy", "(no genres listed)"]
    assert data.movies["title"].tolist()[1] == "Cité des enfants perdus, La (1995)"  # latin-1


def test_1m_layout(tmp_path):
    # ratings.dat: UserID::MovieID::Rating::Timestamp; movies.dat: MovieID::Title::Genres
    write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::3::4::9\n")
    write(
        tmp_path,
        "movies.dat",
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "3::Señorita: A Story (1990)::Comedy\n",
        encoding="latin-1",
    )
    write(tmp_path, "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    data = load_quietly("local", tmp_path)
    assert raw_triples(data) == [(1, 661, 3.0), (1, 1193, 5.0), (2, 3, 4.0)]
    assert data.movies["title"].tolist()[0] == "Señorita: A Story (1990)"  # latin-1 here
    assert data.movies["genres"].tolist() == ["Comedy", "Animation|Children's|Musical", "Drama"]
    assert data.timestamps.tolist() == [978302109, 978300760, 9]


def test_1m_rates_whole_stars_only(tmp_path):
    write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3.5::978302109\n")
    write(tmp_path, "users.dat", "1::F::1::10::48067\n")
    with pytest.raises(
        BenchError, match=r"outside 1\.\.5 in whole stars, first on line 2 \(3\.5\)"
    ):
        load_dataset("local", tmp_path)


def test_10m_layout_with_half_stars_and_tags(tmp_path):
    write(tmp_path, "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n2::122::0.5::5\n")
    write(
        tmp_path, "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n185::Amélie (2001)::Drama\n"
    )
    # tags.dat: UserID::MovieID::Tag::Timestamp; a tag may itself hold '::'; movie 999 is unrated
    write(
        tmp_path,
        "tags.dat",
        "2::122::dark hero::1188263867\n1::185::a::b::1188263800\n1::999::unrated::1\n",
    )
    data = load_quietly("local", tmp_path)
    assert raw_triples(data) == [(1, 122, 5.0), (1, 185, 4.5), (2, 122, 0.5)]
    assert data.movies["title"].tolist() == ["Boomerang (1992)", "Amélie (2001)"]  # UTF-8 here
    tags = data.tags
    assert tags["tag"].tolist() == ["dark hero", "a::b"]
    assert data.user_ids[tags["user"]].tolist() == [2, 1]
    assert data.item_ids[tags["item"]].tolist() == [122, 185]
    assert tags["timestamp"].tolist() == [1188263867, 1188263800]


def test_malformed_tag_lines_are_skipped_and_counted(tmp_path):
    write(tmp_path, "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n")
    write(tmp_path, "tags.dat", "1::122::good::1188263867\n1::185::no timestamp\n")
    with pytest.warns(UserWarning, match="tags.dat: 1 malformed or empty tag line\\(s\\) skipped"):
        data = load_dataset("local", tmp_path)
    assert data.tags["tag"].tolist() == ["good"]


def test_a_movies_file_with_a_bad_line_keeps_the_other_titles(tmp_path):
    write(tmp_path, "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n")
    write(tmp_path, "movies.dat", "122::Boomerang (1992)::Comedy\nabc::Broken::Drama\n")
    with pytest.warns(UserWarning, match="movies.dat: 1 line\\(s\\) without an integer movie id"):
        data = load_dataset("local", tmp_path)
    assert data.movies["title"].tolist() == ["Boomerang (1992)", "movie 185"]


def test_csv_layout_with_quoted_titles_and_tags(tmp_path):
    write(
        tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n3,10,4.5,7\n3,20,2,8\n4,10,1,9\n"
    )
    write(
        tmp_path,
        "movies.csv",
        'movieId,title,genres\n10,"American President, The (1995)",Comedy|Drama|Romance\n',
    )
    write(
        tmp_path,
        "tags.csv",
        'userId,movieId,tag,timestamp\n3,10,"funny, sad",11\n4,20,unrated pair,12\n5,10,x,13\n',
    )
    data = load_quietly("local", tmp_path)
    assert raw_triples(data) == [(3, 10, 4.5), (3, 20, 2.0), (4, 10, 1.0)]
    assert data.movies["title"].tolist() == ["American President, The (1995)", "movie 20"]
    # user 5 has no ratings: dropped; user 4 rated movie 10 only, but both are known: kept
    assert data.tags["tag"].tolist() == ["funny, sad", "unrated pair"]


def test_tags_do_not_enter_the_digest(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.0,2\n")
    before = load_quietly("local", tmp_path).digest
    write(tmp_path, "tags.csv", "userId,movieId,tag,timestamp\n1,1,good,3\n")
    after = load_quietly("local", tmp_path)
    assert len(after.tags) == 1 and after.digest == before


def test_the_same_ratings_in_every_layout_give_the_same_digest(tmp_path):
    rows = [(1, 5, 4, 100), (1, 7, 2, 101), (2, 5, 5, 102)]
    write(tmp_path / "a", "u.data", "".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in rows))
    write(tmp_path / "b", "ratings.dat", "".join(f"{u}::{m}::{r}::{t}\n" for u, m, r, t in rows))
    write(
        tmp_path / "c",
        "ratings.csv",
        "userId,movieId,rating,timestamp\n"
        + "".join(f"{u},{m},{r}.0,{t}\n" for u, m, r, t in rows),
    )
    digests = {load_quietly("local", tmp_path / d).digest for d in "abc"}
    assert len(digests) == 1


def test_an_extracted_zip_folder_is_found_one_level_down(tmp_path):
    write(tmp_path / "ml-10M100K", "ratings.dat", "1::122::5::838985046\n1::185::4.5::8\n")
    data = load_dataset("local", tmp_path)
    assert len(data) == 2


def test_a_registered_release_name_with_a_path_uses_that_releases_scale(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.5,1\n1,2,3,2\n")
    assert len(load_dataset("ml-25m", tmp_path)) == 2
    with pytest.raises(BenchError, match="whole stars"):
        load_dataset("ml-1m", tmp_path)  # a 1M copy must not hold half stars


def test_read_ratings_reads_any_layout(tmp_path):
    path = write(tmp_path, "ratings.dat", "1::2::4::10\n1::2::3::5\n")
    with pytest.warns(UserWarning, match="1 duplicate"):
        df = read_ratings(path)
    assert df[["userId", "movieId", "rating", "timestamp"]].values.tolist() == [[1, 2, 4, 10]]


# --------------------------------------------------------------------- bad data: CSV layout


def test_missing_columns_are_named(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,timestamp\n1,2,3\n")
    with pytest.raises(BenchError, match="lacks column\\(s\\) rating"):
        load_dataset("local", tmp_path)


def test_non_numeric_rating_names_the_line(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,3\n1,3,great,4\n")
    with pytest.raises(BenchError, match="column 'rating', first on line 3 \\('great'\\)"):
        load_dataset("local", tmp_path)


def test_an_empty_rating_is_non_numeric(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,2,,3\n")
    with pytest.raises(BenchError, match="column 'rating', first on line 2"):
        load_dataset("local", tmp_path)


def test_a_fractional_movie_id_names_the_line(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,3\n1,2.5,4.0,3\n")
    with pytest.raises(BenchError, match="column 'movieId', first on line 3 \\('2.5'\\)"):
        load_dataset("local", tmp_path)


def test_local_folder_without_movies_gets_placeholder_titles(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n7,42,4.0,3\n8,42,2.0,4\n")
    data = load_quietly("local", tmp_path)
    assert (data.n_users, data.n_items) == (2, 1)
    assert data.movies.loc[0, "title"] == "movie 42"


@pytest.mark.parametrize("rating", ["0", "5.5", "4.25", "-1"])
def test_ratings_off_the_half_star_scale_are_rejected(tmp_path, rating):
    write(tmp_path, "ratings.csv", f"userId,movieId,rating,timestamp\n1,2,4.0,3\n1,3,{rating},4\n")
    with pytest.raises(
        BenchError,
        match=r"ratings\.csv: 1 rating\(s\) outside 0\.5\.\.5 in half stars, first on line 3",
    ):
        load_dataset("local", tmp_path)


def test_duplicate_ratings_keep_the_latest_and_say_how_many(tmp_path):
    write(
        tmp_path,
        "ratings.csv",
        "userId,movieId,rating,timestamp\n1,2,4.0,9\n1,2,2.0,3\n1,3,5.0,4\n",
    )
    with pytest.warns(UserWarning, match="1 duplicate"):
        data = load_dataset("local", tmp_path)
    assert len(data) == 2
    assert data.ratings.tolist() == [4.0, 5.0]  # the rating of timestamp 9 is kept


def test_duplicates_with_the_same_timestamp_keep_the_later_line(tmp_path):
    write(
        tmp_path,
        "ratings.csv",
        "userId,movieId,rating,timestamp\n1,2,1.0,5\n1,2,3.0,5\n1,2,2.0,4\n1,3,5.0,4\n",
    )
    with pytest.warns(UserWarning, match="2 duplicate"):
        data = load_dataset("local", tmp_path)
    assert data.ratings.tolist() == [3.0, 5.0]


def test_an_empty_file_is_refused(tmp_path):
    write(tmp_path, "ratings.csv", "")
    with pytest.raises(BenchError, match="ratings.csv is empty"):
        load_dataset("local", tmp_path)


def test_a_header_without_rows_is_refused(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n")
    with pytest.raises(BenchError, match="has no ratings"):
        load_dataset("local", tmp_path)


def test_users_with_a_single_rating_are_counted(tmp_path):
    write(
        tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.0,2\n2,1,5,3\n"
    )
    with pytest.warns(UserWarning, match="1 user\\(s\\) have a single rating; they are kept"):
        data = load_dataset("local", tmp_path)
    assert data.n_users == 2  # kept, not dropped


def test_an_unreadable_tags_file_warns_and_loads_without_tags(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.0,2\n")
    write(tmp_path, "tags.csv", "userId,movieId,tag,timestamp\none,1,x,1\n")
    with pytest.warns(UserWarning, match="tags file .*tags.csv cannot be read"):
        data = load_dataset("local", tmp_path)
    assert len(data) == 2 and len(data.tags) == 0


# --------------------------------------------------------------------- bad data: '::' layout


def test_dat_with_a_missing_column_says_how_many_fields(tmp_path):
    write(tmp_path, "ratings.dat", "1::1193::5\n1::661::3\n")
    with pytest.raises(BenchError, match="line 1 has 3 field\\(s\\) separated by '::'; expected 4"):
        load_dataset("local", tmp_path)


def test_dat_non_numeric_rating_names_the_line(tmp_path):
    write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::five::978302109\n")
    with pytest.raises(
        BenchError, match="ratings.dat: 1 non-numeric value.*'rating', first on line 2"
    ):
        load_dataset("local", tmp_path)


def test_dat_negative_id_names_the_line(tmp_path):
    write(tmp_path, "ratings.dat", "1::1193::5::978300760\n-4::661::3::978302109\n")
    with pytest.raises(BenchError, match="negative id\\(s\\) in column 'userId', first on line 2"):
        load_dataset("local", tmp_path)


def test_dat_bad_timestamp_names_the_line(tmp_path):
    write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::\n")
    with pytest.raises(BenchError, match="column 'timestamp', first on line 2"):
        load_dataset("local", tmp_path)


def test_dat_with_an_extra_field_is_refused_with_the_line(tmp_path):
    write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109::x\n")
    with pytest.raises(BenchError, match="cannot parse ratings file .*line 2"):
        load_dataset("local", tmp_path)


def test_dat_rating_out_of_range_names_the_line_and_value(tmp_path):
    write(tmp_path, "ratings.dat", "1::122::5::838985046\n1::185::6::838983525\n")
    with pytest.raises(
        BenchError, match=r"outside 0\.5\.\.5 in half stars, first on line 2 \(6\); .*fix or drop"
    ):
        load_dataset("local", tmp_path)


def test_dat_duplicates_keep_the_latest(tmp_path):
    write(tmp_path, "ratings.dat", "1::122::2::20\n1::122::4::10\n1::185::4.5::8\n")
    with pytest.warns(UserWarning, match="ratings.dat: 1 duplicate"):
        data = load_dataset("local", tmp_path)
    assert raw_triples(data) == [(1, 122, 2.0), (1, 185, 4.5)]


def test_dat_empty_file_is_refused(tmp_path):
    write(tmp_path, "ratings.dat", "\n")
    with pytest.raises(BenchError, match="ratings.dat is empty"):
        load_dataset("local", tmp_path)


def test_dat_single_rating_users_are_counted(tmp_path):
    write(tmp_path, "ratings.dat", "1::122::5::1\n2::122::4::2\n2::185::3::3\n3::185::1::4\n")
    with pytest.warns(UserWarning, match="2 user\\(s\\) have a single rating"):
        load_dataset("local", tmp_path)


def test_100k_rating_out_of_range(tmp_path):
    write(tmp_path, "u.data", "196\t242\t3\t881250949\n186\t302\t0\t891717742\n")
    with pytest.raises(BenchError, match=r"u\.data: 1 rating\(s\) outside 1\.\.5 .* line 2 \(0\)"):
        load_dataset("local", tmp_path)


# --------------------------------------------------------------------- a larger '::' file


def test_many_dat_rows_parse_into_compact_columns(tmp_path):
    # the '::' files are read with pandas' C parser after '::' becomes one byte (1M rows:
    # 0.3 s, against 6 s for engine="python"); the values must come through unchanged
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "u": rng.integers(1, 200_000, 50_000),
            "m": rng.integers(1, 90_000, 50_000),
            "r": rng.integers(1, 11, 50_000) / 2,
            "t": rng.integers(789_652_009, 1_697_164_144, 50_000),
        }
    )
    text = frame["u"].astype(str) + "::" + frame["m"].astype(str) + "::"
    text = text + frame["r"].astype(str) + "::" + frame["t"].astype(str)
    write(tmp_path, "ratings.dat", "\n".join(text) + "\n")
    df = movielens_ratings.read_ratings_file(
        tmp_path / "ratings.dat", movielens.LAYOUTS["dat"], movielens.HALF_STARS
    )
    assert df.dtypes.tolist() == [np.int32, np.int32, np.float32, np.int64]
    for col, src in zip(movielens.RATING_COLUMNS, "umrt", strict=True):
        assert df[col].tolist() == frame[src].tolist()
