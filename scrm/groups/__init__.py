"""Customer groups (客户群, SPEC §9): WeCom group chats, their members, join/quit per day."""
