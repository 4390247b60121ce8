from lineflow.http.secrets import REDACTED, Redactor


def test_query_credentials_are_masked_by_name_and_value():
    redactor = Redactor(["s3cr3t-value-123"], ["apiKey"])
    url = "https://api.example.com/v4/x?apiKey=s3cr3t-value-123&markets=a,b"
    masked = redactor.url(url)
    assert "s3cr3t" not in masked
    assert f"apiKey={REDACTED}" in masked
    assert "markets=a%2Cb" in masked or "markets=a,b" in masked


def test_proxy_userinfo_is_dropped_from_urls():
    masked = Redactor().url("http://user:p%40ss+word@127.0.0.1:8888/path")
    assert masked == "http://127.0.0.1:8888/path"


def test_secret_values_are_masked_in_text_and_bytes():
    redactor = Redactor(["abcd1234efgh"])
    assert redactor.text("key abcd1234efgh leaked") == f"key {REDACTED} leaked"
    assert redactor.bytes(b'{"self":"/v3?key=abcd1234efgh"}') == b'{"self":"/v3?key=REDACTED"}'


def test_short_values_are_not_treated_as_secrets():
    # A one-character "secret" would mask every occurrence of that character.
    assert Redactor(["a"]).text("banana") == "banana"
