import numpy as np
import pandas as pd

from gbscore.features import TableFeatures


def test_each_row_is_described_as_if_alone():
    """TableFeatures describes each distinct text once and repeats it: the whole table's
    features equal those of each row transformed alone, missing text included."""
    X = pd.DataFrame(
        {
            "metric_name": ["a/x", "b/y", "a/x", "c", "b/y", "a/x"],
            "system_prompt": ["", "be kind", "", None, "be kind", ""],
            "user_prompt": ["नमस्ते", "hi there", "नमस्ते", "hello", "hi there", "q"],
            "response": ["**Hi**\n- one", "fine", "**Hi**\n- one", "", "fine", "१२ mixed text"],
        }
    )
    tf = TableFeatures().fit(X)
    whole = tf.transform(X)
    alone = np.vstack([tf.transform(X.iloc[[i]]) for i in range(len(X))])
    np.testing.assert_array_equal(whole, alone)
    np.testing.assert_array_equal(whole[0], whole[2])
    names = list(tf.get_feature_names_out())
    row = dict(zip(names, whole[0], strict=True))
    assert row["lines__response"] == np.float32(np.log1p(1))
    assert row["markdown__response"] == np.float32(np.log1p(3))  # "**" twice, "- " item
    assert row["script_devanagari__user_prompt"] > 0.9
    # a missing text reads as empty text (it used to give NaN, or fail on a row alone)
    missing = dict(zip(names, whole[3], strict=True))
    assert missing["empty__system_prompt"] == 1.0 and missing["len__system_prompt"] == 0.0
