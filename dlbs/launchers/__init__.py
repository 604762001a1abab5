"""dlbs.launchers"""
