"""Shared helpers for the local-runtime tests: the fixture project and a moto session."""

from __future__ import annotations

import socket
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from evergreen_cli.local.stack import MOTO_CONFIG
from evergreen_cli.local.template import zip_dir

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def aws():
    """moto as the local stack runs it, without a template: a boto3 session on it."""
    with mock_aws(config=MOTO_CONFIG):
        yield boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                    aws_secret_access_key="testing")


def create_function(session, name: str, code: str, env: dict[str, str] | None = None) -> str:
    """A Lambda function in moto with the fixture code dir ``code``; returns its ARN."""
    iam = session.client("iam")
    try:
        role = iam.get_role(RoleName="fixture-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="fixture-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return session.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Timeout=7, MemorySize=512,
        Code={"ZipFile": zip_dir(FIXTURES / "functions" / code)},
        Environment={"Variables": env or {}})["FunctionArn"]
