"""Every text the web pages show, in Japanese and English, and how a page picks its language."""

from __future__ import annotations

from typing import get_args

from dlp_proxy.policy.schema import Language

LANGUAGES: tuple[Language, ...] = get_args(Language)
_BY_NAME: dict[str, Language] = {name: name for name in LANGUAGES}

TEXTS: dict[str, dict[Language, str]] = {
    # navigation
    "nav.queue": {"ja": "承認待ち一覧", "en": "Queue"},
    "nav.audit": {"ja": "監査ログ", "en": "Audit log"},
    "nav.other_language": {"ja": "English", "en": "日本語"},
    "nav.sign_out": {"ja": "サインアウト", "en": "Sign out"},
    # sign-in
    "login.title": {"ja": "サインイン", "en": "Sign in"},
    "login.email": {"ja": "メールアドレス", "en": "Email address"},
    "login.password": {"ja": "パスワード", "en": "Password"},
    "login.submit": {"ja": "サインイン", "en": "Sign in"},
    "login.help": {
        "ja": "アカウントは管理者が発行します。"
        "パスワードをお忘れの場合は管理者にお問い合わせください。",
        "en": "Accounts are created by your administrator; ask them if you forgot your password.",
    },
    "login.failed": {
        "ja": "メールアドレスまたはパスワードが正しくありません。",
        "en": "The email address or the password is not correct.",
    },
    "login.rate_limited": {
        "ja": "サインインの失敗が続いたため、一時的に受け付けを停止しています。"
        "{minutes}分ほど経ってから再度お試しください。",
        "en": "Too many failed sign-ins. Please try again in about {minutes} minutes.",
    },
    "login.signed_out": {"ja": "サインアウトしました。", "en": "You have signed out."},
    "login.needed": {
        "ja": "このページを表示するにはサインインしてください。",
        "en": "Please sign in to see this page.",
    },
    # states
    "state.held": {"ja": "承認待ち", "en": "Held"},
    "state.approved": {"ja": "承認済み", "en": "Approved"},
    "state.released": {"ja": "送信済み", "en": "Released"},
    "state.rejected": {"ja": "却下", "en": "Rejected"},
    "state.expired": {"ja": "期限切れ", "en": "Expired"},
    "state.withdrawn": {"ja": "取り下げ", "en": "Withdrawn"},
    "state.all": {"ja": "すべて", "en": "All"},
    # common
    "common.and_more": {"ja": "ほか{n}件", "en": "and {n} more"},
    "common.none": {"ja": "なし", "en": "None"},
    "common.search": {"ja": "検索", "en": "Search"},
    "common.no_subject": {"ja": "（件名なし）", "en": "(no subject)"},
    "common.newer": {"ja": "← 新しいもの", "en": "← Newer"},
    "common.older": {"ja": "古いもの →", "en": "Older →"},
    # queue
    "queue.title": {"ja": "承認待ち一覧", "en": "Held mail"},
    "queue.scope_admin": {
        "ja": "管理者として、すべての保留メールを表示しています。",
        "en": "As an administrator you see every held message.",
    },
    "queue.scope_approver": {
        "ja": "あなたが承認者になっているメールだけを表示しています。",
        "en": "You see the messages you are an approver for.",
    },
    "queue.filter": {"ja": "状態で絞り込み", "en": "Filter by state"},
    "queue.search": {"ja": "キーワード", "en": "Search"},
    "queue.search_hint": {"ja": "差出人、件名、ID", "en": "Sender, subject, ID"},
    "queue.received": {"ja": "受信", "en": "Received"},
    "queue.expires": {"ja": "承認期限", "en": "Deadline"},
    "queue.rules": {"ja": "該当ルール", "en": "Rules"},
    "queue.rows": {"ja": "個人データ {n}行", "en": "personal rows: {n}"},
    "queue.persons": {"ja": "{n}人分", "en": "people: {n}"},
    "queue.external": {"ja": "社外宛先 {n}件", "en": "external recipients: {n}"},
    "queue.attachments": {"ja": "添付 {n}件", "en": "attachments: {n}"},
    "queue.empty": {"ja": "該当するメールはありません。", "en": "No messages here."},
    # message detail
    "detail.id": {"ja": "受付番号", "en": "Reference"},
    "detail.sender": {"ja": "差出人", "en": "Sender"},
    "detail.subject": {"ja": "件名", "en": "Subject"},
    "detail.approvers": {"ja": "承認者", "en": "Approvers"},
    "detail.decided_by": {"ja": "判断した人", "en": "Decided by"},
    "detail.comment": {"ja": "コメント", "en": "Comment"},
    "detail.released_at": {"ja": "送信日時", "en": "Sent"},
    "detail.last_error": {"ja": "直近の送信エラー", "en": "Last delivery error"},
    "detail.attempts": {"ja": "{n}回試行", "en": "{n} attempts"},
    "detail.decide_intro": {
        "ja": "内容をご確認のうえ、承認または却下してください。",
        "en": "Please review the message, then approve or reject it.",
    },
    "detail.comment_label": {
        "ja": "コメント（任意・差出人に伝わります）",
        "en": "Comment (optional; the sender sees it)",
    },
    "detail.outcome": {
        "ja": "承認するとメールは送信されます{extra}。却下すると送信されず、差出人に通知されます。",
        "en": "If you approve, the mail is sent{extra}. If you reject it, it is not sent and "
        "the sender is told.",
    },
    "detail.outcome_encrypt": {
        "ja": "（添付ファイルは暗号化）",
        "en": " with its attachments encrypted",
    },
    "detail.outcome_bcc": {
        "ja": "（社外宛先はBccに変更）",
        "en": " with external addresses in Bcc",
    },
    "detail.rules": {"ja": "保留の理由", "en": "Why it is held"},
    "detail.rule": {"ja": "ルール", "en": "Rule"},
    "detail.why": {"ja": "判定の詳細", "en": "How it matched"},
    "detail.recipients": {"ja": "宛先", "en": "Recipients"},
    "detail.external": {"ja": "社外", "en": "External"},
    "detail.internal": {"ja": "社内", "en": "Internal"},
    "detail.external_visible": {
        "ja": "社外アドレスのうち{n}件がTo/Ccにあり、受信者全員に見えます。",
        "en": "{n} of the external addresses are in To/Cc, visible to every recipient.",
    },
    "detail.attachments": {"ja": "添付ファイルと検出内容", "en": "Attachments and findings"},
    "detail.no_attachments": {"ja": "添付ファイルはありません。", "en": "No attachments."},
    "detail.type": {"ja": "形式", "en": "Type"},
    "detail.unscannable": {"ja": "検査できなかった理由", "en": "Not inspected"},
    "detail.personal_rows": {"ja": "個人データの行数", "en": "Personal rows"},
    "detail.persons": {"ja": "人数", "en": "People"},
    "detail.kinds": {"ja": "項目", "en": "Columns"},
    "detail.samples": {"ja": "例（マスク済み）", "en": "Samples (masked)"},
    "detail.found": {"ja": "検出内容", "en": "Found"},
    "detail.headers": {"ja": "ヘッダー", "en": "Headers"},
    "detail.envelope": {"ja": "エンベロープ", "en": "Envelope"},
    "detail.envelope_value": {
        "ja": "{sender} から {n}件の宛先へ",
        "en": "from {sender} to {n} recipients",
    },
    "detail.policy_version": {"ja": "ポリシーの版", "en": "Policy version"},
    "detail.history": {"ja": "履歴", "en": "History"},
    "action.approve": {"ja": "承認する", "en": "Approve"},
    "action.reject": {"ja": "却下する", "en": "Reject"},
    "flash.approved": {
        "ja": "承認しました。メールは順次送信されます。",
        "en": "Approved. The mail will be sent shortly.",
    },
    "flash.rejected": {
        "ja": "却下しました。差出人に通知します。",
        "en": "Rejected. The sender will be told.",
    },
    "flash.withdrawn": {"ja": "取り下げました。", "en": "Withdrawn."},
    # audit
    "audit.title": {"ja": "監査ログ", "en": "Audit log"},
    "audit.scope_admin": {
        "ja": "管理者として、すべての記録を表示しています。",
        "en": "As an administrator you see every record.",
    },
    "audit.scope_approver": {
        "ja": "あなたが承認者になっているメールの記録だけを表示しています。",
        "en": "You see the records of the messages you are an approver for.",
    },
    "audit.search": {"ja": "キーワード", "en": "Search"},
    "audit.search_hint": {"ja": "受付番号、差出人、操作者", "en": "Reference, sender, actor"},
    "audit.event": {"ja": "種類", "en": "Event"},
    "audit.any_event": {"ja": "すべて", "en": "Any"},
    "audit.since": {"ja": "開始日", "en": "From"},
    "audit.until": {"ja": "終了日", "en": "To"},
    "audit.csv": {"ja": "CSVで出力", "en": "Export CSV"},
    "audit.at": {"ja": "日時", "en": "When"},
    "audit.message": {"ja": "受付番号", "en": "Reference"},
    "audit.actor": {"ja": "操作者", "en": "Actor"},
    "audit.detail": {"ja": "内容", "en": "Detail"},
    "audit.empty": {"ja": "該当する記録はありません。", "en": "No records match."},
    "event.decided": {"ja": "判定", "en": "Decided"},
    "event.held": {"ja": "保留", "en": "Held"},
    "event.approved": {"ja": "承認", "en": "Approved"},
    "event.rejected": {"ja": "却下", "en": "Rejected"},
    "event.expired": {"ja": "期限切れ", "en": "Expired"},
    "event.withdrawn": {"ja": "取り下げ", "en": "Withdrawn"},
    "event.released": {"ja": "送信", "en": "Released"},
    "event.release_failed": {"ja": "送信失敗（再試行）", "en": "Delivery failed (retrying)"},
    "event.purged": {"ja": "本文削除", "en": "Content purged"},
    "event.user_added": {"ja": "ユーザー追加", "en": "User added"},
    "event.signed_in": {"ja": "サインイン", "en": "Signed in"},
    "event.sign_in_failed": {"ja": "サインイン失敗", "en": "Sign-in failed"},
    "event.link_refused": {"ja": "リンク拒否", "en": "Link refused"},
    # links
    "link.title.approve": {"ja": "送信を承認しますか", "en": "Approve this mail?"},
    "link.title.reject": {"ja": "送信を却下しますか", "en": "Reject this mail?"},
    "link.title.withdraw": {"ja": "送信を取り下げますか", "en": "Withdraw this mail?"},
    "link.intro.approve": {
        "ja": "以下のメールの送信を承認します。内容をご確認のうえ、下のボタンを押してください。",
        "en": "You are about to approve the mail below. Please review it, then press the button.",
    },
    "link.intro.reject": {
        "ja": "以下のメールの送信を却下します。内容をご確認のうえ、下のボタンを押してください。",
        "en": "You are about to reject the mail below. Please review it, then press the button.",
    },
    "link.intro.withdraw": {
        "ja": "承認待ちのメールを取り下げます。取り下げたメールは送信されません。",
        "en": "You are about to withdraw your held mail. A withdrawn mail is not sent.",
    },
    "link.recipients": {
        "ja": "社外 {external}件、社内 {internal}件",
        "en": "{external} external, {internal} internal",
    },
    "link.confirm.approve": {"ja": "承認する", "en": "Approve"},
    "link.confirm.reject": {"ja": "却下する", "en": "Reject"},
    "link.confirm.withdraw": {"ja": "取り下げる", "en": "Withdraw"},
    "link.nothing_yet": {
        "ja": "ボタンを押すまで、何も実行されません。",
        "en": "Nothing happens until you press the button.",
    },
    "link.open_details": {"ja": "詳細を表示", "en": "Open the details"},
    "done.approve": {"ja": "承認しました", "en": "Approved"},
    "done.reject": {"ja": "却下しました", "en": "Rejected"},
    "done.withdraw": {"ja": "取り下げました", "en": "Withdrawn"},
    # refusals
    "error.home": {"ja": "一覧に戻る", "en": "Back to the queue"},
    "error.title": {"ja": "処理できませんでした", "en": "This cannot be done"},
    "error.not_found": {
        "ja": "メールが見つからないか、表示する権限がありません。",
        "en": "The message does not exist, or you may not see it.",
    },
    "error.csrf": {
        "ja": "フォームの有効期限が切れたか、不正な送信です。"
        "ページを再読み込みして、もう一度お試しください。",
        "en": "The form has expired or was not sent from this site. Reload the page and try again.",
    },
    "error.invalid": {
        "ja": "入力内容を処理できませんでした（長すぎるか、形式が正しくありません）。",
        "en": "The form or the address could not be processed (too long, or malformed).",
    },
    "error.wrong_state": {
        "ja": "このメールはすでに「{state}」になっているため、この操作はできません。",
        "en": "This message is already decided (now: {state}), so this cannot be done.",
    },
    "error.unavailable": {
        "ja": "現在、保留メールのデータベースに接続できません。"
        "しばらくしてから再度お試しください。",
        "en": "The quarantine database cannot be reached right now. Please try again shortly.",
    },
    "error.purged": {
        "ja": "保存期間を過ぎたため、このメールの本文は削除されています。",
        "en": "The content of this message was removed after the retention period.",
    },
    "error.link_invalid": {
        "ja": "このリンクは無効です。URLが途中で切れているか、書き換えられています。"
        "通知メールのリンクをもう一度開くか、一覧画面から操作してください。",
        "en": "This link is not valid: it was cut short or altered. Open the link from the "
        "notice again, or use the queue page.",
    },
    "error.link_expired": {
        "ja": "このリンクは有効期限が切れています。一覧画面から状況をご確認ください。",
        "en": "This link has expired. Please check the message on the queue page.",
    },
    "error.link_used": {
        "ja": "このリンクはすでに使用されています。リンクは一度だけ使えます。",
        "en": "This link has already been used. Each link works once.",
    },
    "error.link_not_allowed": {
        "ja": "このリンクの宛先の方は、現在このメールの承認者ではありません。",
        "en": "The person this link was made for is no longer an approver of this message.",
    },
}


def text(key: str, language: Language, **values: object) -> str:
    """The text for ``key`` in ``language`` with ``{name}`` placeholders filled in."""
    entry = TEXTS[key]
    template = entry.get(language) or entry["en"]
    return template.format(**values) if values else template


def accepted(header: str | None) -> Language | None:
    """The first of our languages in an Accept-Language header, by quality then order."""
    if not header:
        return None
    choices: list[tuple[float, int, Language]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = _BY_NAME.get(tag.strip().lower().split("-")[0])
        if language is not None and quality > 0:
            choices.append((-quality, position, language))
    return min(choices)[2] if choices else None


def choose(
    *,
    chosen: str | None,
    user: str | None,
    header: str | None,
    default: Language,
) -> Language:
    """The toggle wins, then the user's own language, then the browser's, then the default."""
    for candidate in (chosen, user):
        language = _BY_NAME.get(candidate or "")
        if language is not None:
            return language
    return accepted(header) or default
