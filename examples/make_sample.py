"""Write examples/customer-list.eml: a synthetic customer list attached to mail for a client.

Run it to regenerate the sample (the rows come from Faker with a fixed seed; nobody real).
"""

from __future__ import annotations

import io
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import openpyxl
from faker import Faker

HERE = Path(__file__).parent


def workbook(rows: int = 25) -> bytes:
    fake = Faker("ja_JP")
    fake.seed_instance(2024)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "顧客一覧"
    sheet.append(["氏名", "住所", "電話番号", "メールアドレス", "生年月日"])
    for _ in range(rows):
        birth = fake.date_of_birth(minimum_age=20, maximum_age=80)
        sheet.append(
            [fake.name(), fake.address(), fake.phone_number(), fake.email(), birth.isoformat()]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def main() -> None:
    message = EmailMessage()
    message["From"] = "Tanaka Ichiro <tanaka@example.co.jp>"
    message["To"] = "buyer@partner.example"
    message["Subject"] = "新型車キャンペーンのご案内（顧客リスト添付）"
    message["Date"] = "Thu, 19 Nov 2026 10:00:00 +0900"
    message["Message-ID"] = "<sample-customer-list@example.co.jp>"
    message.set_content("いつもお世話になっております。\nご依頼の顧客リストをお送りします。\n")
    message.add_attachment(
        workbook(),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename="顧客リスト.xlsx",
    )
    (HERE / "customer-list.eml").write_bytes(message.as_bytes(policy=SMTP))


if __name__ == "__main__":
    main()
