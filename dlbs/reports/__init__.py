"""dlbs.reports"""
