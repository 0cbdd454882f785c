from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scrm.config import ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_embedded_sandbox_setup():
    config = load_config(environ={})
    assert config.database.url == "sqlite:///var/scrm.db"
    assert config.redis.url == "memory://"
    assert config.wechat.sandbox is True
    assert config.mp_api_base_url == "http://127.0.0.1:5000/sandbox/wechat/mp/cgi-bin/"
    assert config.binding.policy == "first_touch" and config.outreach.weekly_cap == 2


def test_file_then_environment_override(tmp_path):
    path = write(tmp_path, '[wechat.mp]\ntoken = "from-file"\n[binding]\nprotect_days = 7\n')
    config = load_config(path, environ={"SCRM_WECHAT__MP__TOKEN": "from-env", "SCRM_OUTREACH__WEEKLY_CAP": "3"})
    assert config.wechat.mp.token == "from-env"
    assert config.binding.protect_days == 7
    assert config.outreach.weekly_cap == 3


def test_config_file_named_by_variable(tmp_path):
    path = write(tmp_path, '[server]\nport = 8080\n')
    assert load_config(environ={"SCRM_CONFIG": str(path)}).server.port == 8080


def test_list_values_from_environment_are_toml():
    config = load_config(environ={"SCRM_QUEUE__BACKOFF_SECONDS": "[1, 2, 3]"})
    assert config.queue.backoff_seconds == [1, 2, 3]


def test_unknown_key_in_file_names_key_and_file(tmp_path):
    path = write(tmp_path, "[wechat.mp]\ntokne = 'typo'\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert "wechat.mp.tokne" in str(error.value) and str(path) in str(error.value)


def test_unknown_section_in_file(tmp_path):
    path = write(tmp_path, "[redsi]\nurl = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown key 'redsi'"):
        load_config(path, environ={})


def test_unknown_variable_names_the_variable():
    with pytest.raises(ConfigError) as error:
        load_config(environ={"SCRM_WECHAT__MP__TOKN": "x"})
    assert "wechat.mp.tokn" in str(error.value) and "SCRM_WECHAT__MP__TOKN" in str(error.value)


def test_wrong_type_from_variable_names_key_and_variable():
    with pytest.raises(ConfigError) as error:
        load_config(environ={"SCRM_BINDING__PROTECT_DAYS": "thirty"})
    message = str(error.value)
    assert "binding.protect_days" in message and "variable SCRM_BINDING__PROTECT_DAYS" in message


def test_wrong_type_in_file_names_key_and_file(tmp_path):
    path = write(tmp_path, '[outreach]\nquiet_hours = "late"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert "outreach.quiet_hours" in str(error.value) and f"file {path}" in str(error.value)


def test_bad_choice_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="binding.policy"):
        load_config(environ={"SCRM_BINDING__POLICY": "middle_touch"})


def test_secret_key_required_outside_sandbox():
    with pytest.raises(ConfigError) as error:
        load_config(environ={"SCRM_WECHAT__SANDBOX": "false"})
    assert "security.secret_key" in str(error.value) and "not set" in str(error.value)


def test_short_secret_key_refused_outside_sandbox_naming_its_source():
    with pytest.raises(ConfigError) as error:
        load_config(environ={"SCRM_WECHAT__SANDBOX": "false", "SCRM_SECURITY__SECRET_KEY": "short"})
    assert "SCRM_SECURITY__SECRET_KEY" in str(error.value)


def test_production_uses_real_wechat_hosts():
    config = load_config(environ={"SCRM_WECHAT__SANDBOX": "false", "SCRM_SECURITY__SECRET_KEY": "k" * 40})
    assert config.mp_api_base_url == "https://api.weixin.qq.com/cgi-bin/"
    assert config.work_api_base_url == "https://qyapi.weixin.qq.com/cgi-bin/"


def test_sandbox_refuses_a_real_wechat_host():
    with pytest.raises(ConfigError, match="wechat.mp.api_base_url"):
        load_config(environ={"SCRM_WECHAT__MP__API_BASE_URL": "https://api.weixin.qq.com/cgi-bin/"})


def test_malformed_toml_is_reported(tmp_path):
    path = write(tmp_path, "[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, environ={})


def test_example_config_documents_every_key():
    """config.example.toml loads, and names every key the code declares."""
    from pathlib import Path

    from scrm.config import Config

    example = Path(__file__).parents[2] / "config.example.toml"
    load_config(example, environ={})
    text = example.read_text(encoding="utf-8")

    def keys(model, prefix=""):
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields"):
                yield from keys(field.annotation, f"{prefix}{name}.")
            else:
                yield prefix, name

    missing = []
    for section, name in keys(Config):
        header = f"[{section.rstrip('.')}]"
        block = text.split(header, 1)[1].split("\n[", 1)[0] if header in text else ""
        if f"{name} =" not in block and f"# {name} =" not in block:
            missing.append(section + name)
    assert missing == []


def test_a_rate_limit_must_be_positive():
    with pytest.raises(ConfigError, match=r"wechat.rate_limits.message/custom/send"):
        load_config(environ={"SCRM_WECHAT__RATE_LIMITS": '{ "message/custom/send" = 0 }'})


def test_the_brand_has_a_time_zone_a_name_and_a_locale(tmp_path):
    config = load_config(environ={})
    assert (config.brand.timezone, config.brand.name, config.brand.locale) == ("Asia/Shanghai", "演示品牌", "zh_CN")
    assert str(config.brand.zone) == "Asia/Shanghai"
    path = write(tmp_path, '[brand]\ntimezone = "Europe/Paris"\nname = "英氏"\nlocale = "en"\n')
    config = load_config(path, environ={})
    assert (str(config.brand.zone), config.brand.name, config.brand.locale) == ("Europe/Paris", "英氏", "en")


@pytest.mark.parametrize("text, key", [
    ('[brand]\ntimezone = "Mars/Olympus"\n', "brand.timezone"),
    ('[brand]\nlocale = "fr"\n', "brand.locale"),
    ('[brand]\nname = ""\n', "brand.name"),
])
def test_a_bad_brand_value_names_the_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert key in str(error.value) and str(path) in str(error.value)


def test_an_old_config_naming_outreach_timezone_is_told_the_new_key(tmp_path):
    path = write(tmp_path, '[outreach]\nweekly_cap = 3\ntimezone = "Asia/Shanghai"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    message = str(error.value)
    assert "outreach.timezone is now brand.timezone" in message and "[brand]" in message and str(path) in message
    with pytest.raises(ConfigError, match=r"outreach.timezone is now brand.timezone.*SCRM_OUTREACH__TIMEZONE"):
        load_config(environ={"SCRM_OUTREACH__TIMEZONE": "Asia/Shanghai"})


@pytest.mark.parametrize("environ, key", [
    ({"SCRM_SERVER__PUBLIC_BASE_URL": "https://scrm.example.com"}, "server.public_base_url"),
    ({"SCRM_SERVER__PUBLIC_BASE_URL": "http://192.168.1.20:5000"}, "server.public_base_url"),
    ({"SCRM_SERVER__HOST": "0.0.0.0"}, "server.host"),
])
def test_sandbox_mode_without_a_secret_key_refuses_to_be_reachable_from_outside(environ, key):
    with pytest.raises(ConfigError) as error:
        load_config(environ=environ)
    assert str(error.value).startswith(key) and "security.secret_key" in str(error.value)
    secret = {"SCRM_SECURITY__SECRET_KEY": "a-key-of-this-brand-only-32-characters-long"}
    assert load_config(environ={**environ, **secret}).wechat.sandbox  # with its own key it may be reached


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "http://localhost:8000", "http://[::1]:5000"])
def test_sandbox_mode_on_this_machine_needs_no_secret_key(url):
    assert load_config(environ={"SCRM_SERVER__PUBLIC_BASE_URL": url}).server.public_base_url == url


def test_scrm_serve_refuses_a_public_host_in_sandbox_mode_without_a_secret_key(tmp_path):
    # A process of its own, with a deadline: without the refusal it would serve, and the test
    # would fail on the timeout instead of hanging the suite.
    env = {"PATH": os.environ.get("PATH", ""), "SCRM_DATABASE__URL": f"sqlite:///{tmp_path}/x.db"}
    result = subprocess.run([Path(sys.executable).with_name("scrm"), "--config", str(write(tmp_path, "")), "serve",
                             "--host", "0.0.0.0", "--port", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "--host 0.0.0.0 is reachable from outside" in result.stdout + result.stderr


def test_a_rate_limit_setting_that_does_not_parse_names_its_key():
    with pytest.raises(ConfigError) as error:
        load_config(environ={"SCRM_SECURITY__RATE_LIMITS__SIGN_IN_PER_IP": "often"})
    assert "security.rate_limits.sign_in_per_ip" in str(error.value) and "20/minute" in str(error.value)
