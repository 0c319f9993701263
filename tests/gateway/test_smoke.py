def test_valid_token_reaches_the_service(gw, token):
    r = gw.get("/echo/hello?x=1", token=token)
    assert r.status_code == 200, r.text
    print(r.json())
