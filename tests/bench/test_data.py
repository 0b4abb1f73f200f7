import shutil

import numpy as np
import pytest

from bench.data import DATASETS_DIR, load_dataset, verify_checksums
from bench.errors import BenchError


def test_embedded_dataset_has_the_documented_size(movielens):
    assert (len(movielens), movielens.n_users, movielens.n_items) == (100_836, 610, 9_724)
    assert movielens.ratings.min() == 0.5 and movielens.ratings.max() == 5.0


def test_indices_are_contiguous_and_map_back_to_raw_ids(movielens):
    assert movielens.users.min() == 0 and movielens.users.max() == movielens.n_users - 1
    assert np.unique(movielens.items).size == movielens.n_items
    # first line of ratings.csv: userId 1, movieId 1, 4.0, 964982703
    first = (movielens.user_ids[movielens.users] == 1) & (movielens.item_ids[movielens.items] == 1)
    assert movielens.ratings[first].tolist() == [4.0]
    assert movielens.timestamps[first].tolist() == [964982703]


def test_titles_and_genres_per_item(movielens):
    toy_story = int(np.flatnonzero(movielens.item_ids == 1)[0])
    assert movielens.movies.loc[toy_story, "title"] == "Toy Story (1995)"
    assert "Animation" in movielens.movies.loc[toy_story, "genres"]


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
    with pytest.raises(BenchError, match="unknown dataset 'ml-nope'"):
        load_dataset("ml-nope")


def test_missing_columns_are_named(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,timestamp\n1,2,3\n")
    with pytest.raises(BenchError, match="lacks column\\(s\\) rating"):
        load_dataset("local", tmp_path)


def test_non_numeric_rating_names_the_line(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,2,4.0,3\n1,3,great,4\n"
    )
    with pytest.raises(BenchError, match="column 'rating', first on line 3"):
        load_dataset("local", tmp_path)


def test_local_folder_without_movies_gets_placeholder_titles(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n7,42,4.0,3\n8,42,2.0,4\n"
    )
    data = load_dataset("local", tmp_path)
    assert (data.n_users, data.n_items) == (2, 1)
    assert data.movies.loc[0, "title"] == "movie 42"


def test_non_positive_ratings_are_rejected(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,4.0,3\n1,3,0,4\n")
    with pytest.raises(BenchError, match="rating\\(s\\) <= 0, first on line 3"):
        load_dataset("local", tmp_path)


def test_duplicate_ratings_keep_the_latest_and_say_how_many(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,2,4.0,9\n1,2,2.0,3\n1,3,5.0,4\n"
    )
    with pytest.warns(UserWarning, match="1 duplicate"):
        data = load_dataset("local", tmp_path)
    assert len(data) == 2
    assert data.ratings.tolist() == [4.0, 5.0]  # the rating of timestamp 9 is kept
