"""dlbs.logs"""
