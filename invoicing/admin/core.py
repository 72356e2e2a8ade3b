"""Organizations, API keys and the catalog in the admin.

Every write goes through the service that owns the row, as the API's do:
fields whose changes a service rules (a customer's currency once invoiced, an
organization's numbering, who owns a row, a key's revocation) are read-only
here, and the others are saved by the service, whose refusal is shown on the
form. Nothing is created here: organizations and keys come from
``create_organization`` (which shows a key once), the catalog from the API.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from invoicing.admin.money import money_column
from invoicing.errors import ApplicationError
from invoicing.models import AddOn, ApiKey, Customer, Organization, Tax
from invoicing.services import catalog, organizations


class ServiceWriteAdmin(admin.ModelAdmin):
    """Saves a changed row through ``service_save`` instead of ``obj.save()``;
    a refusal is shown on the form and nothing is written."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Rows here are referenced by issued invoices; deleting them goes
        # through the API's rules (soft deletion where Lago does it).
        return False

    def service_save(self, obj, changed: dict) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            self.service_save(form.initial_instance, changed)
        except ApplicationError as exc:
            details = getattr(exc, "details", None) or {"base": [exc.code]}
            request._service_refusal = "; ".join(
                f"{field}: {', '.join(codes)}" for field, codes in details.items()
            )

    def save_related(self, request, form, formsets, change):
        # Related rows are read-only here: nothing else is saved (the change
        # message still reads what each formset saved).
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class Form(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                # The row as it was: the service changes it, not the form.
                self.initial_instance = type(self.instance).objects.get(pk=self.instance.pk)

        return Form

    def response_change(self, request, obj):
        refusal = getattr(request, "_service_refusal", None)
        if refusal:
            self.message_user(request, f"Not saved: {refusal}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    # The prefix identifies a key; the secret is never stored, only its hash,
    # and the hash is not shown either. Revoking is an action of the key list.
    fields = ["prefix", "name", "created_at", "expires_at", "revoked_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        # Keys are issued by `manage.py create_organization` / the service,
        # which is the only place the raw key can be shown once.
        return False


@admin.register(Organization)
class OrganizationAdmin(ServiceWriteAdmin):
    list_display = ["name", "legal_name", "country", "document_locale", "default_currency",
                    "numbering_scheme"]  # fmt: skip
    search_fields = ["name", "legal_name", "id"]
    readonly_fields = ["id", "numbering_scheme", "number_prefix", "last_sequential_id",
                       "created_at", "updated_at"]  # fmt: skip
    exclude = ["hmac_key"]
    inlines = [ApiKeyInline]

    def service_save(self, obj, changed):
        organizations.organization_update(organization=obj, data=changed)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "organization", "name", "created_at", "expires_at", "revoked_at"]
    list_filter = ["organization"]
    search_fields = ["prefix", "name", "organization__name"]
    fields = ["organization", "prefix", "name", "created_at", "expires_at", "revoked_at"]
    # A revoked key stays revoked: revocation is an action, and nothing here
    # can undo it or stretch a key's life.
    readonly_fields = fields
    actions = ["revoke_keys"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            organizations.api_key_revoke(api_key=api_key)
        self.message_user(request, f"{queryset.count()} key(s) revoked.")


@admin.register(Customer)
class CustomerAdmin(ServiceWriteAdmin):
    list_display = ["external_id", "name", "organization", "currency", "document_locale"]
    list_filter = ["organization", "currency", "document_locale"]
    search_fields = ["external_id", "name", "legal_name", "email", "id"]
    # Who owns the customer and how the API knows it never change; the
    # currency is the service's to rule (fixed once invoiced).
    readonly_fields = ["id", "organization", "external_id", "currency", "taxes", "created_at",
                       "updated_at"]  # fmt: skip

    def service_save(self, obj, changed):
        catalog.customer_upsert(
            organization=obj.organization, external_id=obj.external_id, data=changed
        )


@admin.register(Tax)
class TaxAdmin(ServiceWriteAdmin):
    list_display = ["code", "name", "rate", "vat_category_code", "organization",
                    "applied_to_organization"]  # fmt: skip
    list_filter = ["organization", "vat_category_code"]
    search_fields = ["code", "name"]
    readonly_fields = ["id", "organization", "created_at", "updated_at"]

    def service_save(self, obj, changed):
        catalog.tax_update(tax=obj, data=changed)


@admin.register(AddOn)
class AddOnAdmin(ServiceWriteAdmin):
    list_display = ["code", "name", "amount", "organization"]
    list_filter = ["organization", "amount_currency"]
    search_fields = ["code", "name"]
    # Taxes are chosen by code through the API, among the organization's own.
    readonly_fields = ["id", "organization", "taxes", "created_at", "updated_at"]

    amount = money_column("amount_cents", "Amount", lambda add_on: add_on.amount_currency)

    def service_save(self, obj, changed):
        catalog.add_on_update(add_on=obj, data=changed)
