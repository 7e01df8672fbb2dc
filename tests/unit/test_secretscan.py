"""Secret scanning of what enters an image (detect-secrets on plain texts)."""

import pytest

from dockermagic import secretscan

KEY = 'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"\n'


def test_keywords_count_everywhere_and_entropy_only_in_code():
    texts = {"program.py": "x = 1\n" + KEY, "data/keys.csv": "id,token\n1,Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV4cXV1eA==\n"}
    found = secretscan.scan_texts(texts, code_names={"program.py"})
    assert ("program.py", 2, "Secret Keyword") in found
    assert not any(name == "data/keys.csv" for name, _, _ in found), found


def test_a_text_scanned_before_is_not_scanned_again(monkeypatch):
    texts = {"program.py": "y = 2\n" + KEY}
    first = secretscan.scan_texts(texts, code_names={"program.py"})
    monkeypatch.setattr(secretscan, "_SCANNED", dict(secretscan._SCANNED))
    import detect_secrets

    def refuse(*args, **kwargs):
        raise AssertionError("scanned again")

    monkeypatch.setattr(detect_secrets, "SecretsCollection", refuse)
    assert secretscan.scan_texts(texts, code_names={"program.py"}) == first
    with pytest.raises(AssertionError, match="scanned again"):  # a new text is scanned
        secretscan.scan_texts({"other.py": "z = 3\n"})
