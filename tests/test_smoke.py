def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["database"]["revision"] == "0001"


def test_api_needs_token_and_role(client, auth):
    assert client.get("/api/users").status_code == 401
    assert client.get("/api/users", headers=auth("manager")).status_code == 403
    assert client.get("/api/users", headers=auth("admin")).status_code == 200
